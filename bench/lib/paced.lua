-- wrk script: POST the body in $BODY_FILE to the URL, each connection pausing $PACE_MS ms
-- between requests (an approximately fixed request rate: connections × 1000 / PACE_MS per s).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "json_body.lua")(os.getenv("BODY_FILE"))
local pace = tonumber(os.getenv("PACE_MS") or "10")
function delay()
  return pace
end
