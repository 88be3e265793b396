-- wrk script: as ../shared/bench/lib/post.lua (a fixed JSON body with the webhook headers and a
-- RESULT line), plus one fixed header — a signature computed beforehand over that exact body
-- (WRK_SIG_HEADER, WRK_SIG_VALUE): wrk's Lua cannot compute an HMAC per request, so the
-- benchmark uses a scheme without a timestamp (github).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local body = dofile(here .. "json_body.lua")(os.getenv("WRK_BODY_FILE") or "lib/body.json")

local sig_header = os.getenv("WRK_SIG_HEADER")
if sig_header and sig_header ~= "" then
  wrk.headers[sig_header] = os.getenv("WRK_SIG_VALUE")
end

-- WRK_UNIQUE_HEADER: a header whose value differs on every request (thread number and a
-- counter), e.g. X-GitHub-Delivery for duplicate detection; costs wrk a Lua call per request.
local unique = os.getenv("WRK_UNIQUE_HEADER")
if unique and unique ~= "" then
  local threads = 0
  setup = function(thread)
    threads = threads + 1
    thread:set("tid", threads)
  end
  local n = 0
  local run = os.time() -- a warm-up run before does not send the same values
  request = function()
    n = n + 1
    wrk.headers[unique] = string.format("%d-%s-%d", run, tostring(tid), n)
    return wrk.format()
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d body_bytes=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout, #body))
end
