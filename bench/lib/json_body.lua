-- Shared by the wrk scripts here (`dofile`): makes every request a POST of the file at `path`
-- with Content-Type and Accept application/json; answers the body.
return function(path)
  local f = assert(io.open(path, "rb"))
  local body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  return body
end
