-- wrk script: POST the body in $BODY_FILE to the URL, each connection pausing $PACE_MS ms
-- between requests (an approximately fixed request rate: connections × 1000 / PACE_MS per s).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local pace = tonumber(os.getenv("PACE_MS") or "10")
function delay()
  return pace
end
