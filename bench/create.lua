-- wrk script: POST /v1/users with a new username each time (unique across threads, runs and the
-- nodes of bench/nodes.sh, by ROSTER_TAG), with ROSTER_TOKEN as bearer.
local token = os.getenv("ROSTER_TOKEN")
local prefix = os.getenv("ROSTER_TAG") or "c"
local threads = 0
local tag = ""
local n = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tag", prefix .. "-" .. os.time() .. "-" .. threads)
end
init = function(args)
  tag = wrk.thread:get("tag")
end

request = function()
  n = n + 1
  return wrk.format("POST", "/v1/users", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"username":"' .. tag .. '-' .. n .. '"}')
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
