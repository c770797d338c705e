-- wrk script for bench/soak.sh: a mix of reads and writes over the ids in ROSTER_IDS —
-- 80% GET /v1/users/{id}, 10% PATCH (merge patch of an attribute), 5% POST /v1/users (a new
-- user), 5% GET /v1/users?filter=… (a query).
local ids = {}
for line in io.lines(os.getenv("ROSTER_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("ROSTER_TOKEN")
local i, n = 0, 0
-- Usernames of creates stay unique across threads, across the 30 s runs of bench/soak.sh and
-- across wrk processes run at once (each given its own ROSTER_TAG, as bench/nodes.sh does).
local threads = 0
local tag = ""
setup = function(thread)
  threads = threads + 1
  thread:set("tag", (os.getenv("ROSTER_TAG") or "") .. os.time() .. "-" .. threads)
end
init = function(args)
  tag = wrk.thread:get("tag")
end

request = function()
  i = i % #ids + 1
  n = n + 1
  local auth = { ["Authorization"] = "Bearer " .. token }
  local roll = n % 20
  if roll < 16 then
    return wrk.format("GET", "/v1/users/" .. ids[i], auth)
  elseif roll < 18 then
    auth["Content-Type"] = "application/merge-patch+json"
    return wrk.format("PATCH", "/v1/users/" .. ids[i], auth,
      '{"attributes":{"soak":["' .. n .. '"]}}')
  elseif roll < 19 then
    auth["Content-Type"] = "application/json"
    return wrk.format("POST", "/v1/users", auth,
      '{"username":"soak-' .. tag .. '-' .. n .. '"}')
  else
    return wrk.format("GET", "/v1/users?limit=20&filter=username%20sw%20%22soak-%22", auth)
  end
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
