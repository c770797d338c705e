-- wrk script: GET <ROSTER_USERS_PATH, default /v1/users>/{id} for ids read from the file named
-- by ROSTER_IDS, round robin; with `Accept: <ROSTER_ACCEPT>` when that is set.
local ids = {}
for line in io.lines(os.getenv("ROSTER_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("ROSTER_TOKEN")
local path = os.getenv("ROSTER_USERS_PATH") or "/v1/users"
local headers = { ["Authorization"] = "Bearer " .. token }
if os.getenv("ROSTER_ACCEPT") then headers["Accept"] = os.getenv("ROSTER_ACCEPT") end
local i = 0

request = function()
  i = i % #ids + 1
  return wrk.format("GET", path .. "/" .. ids[i], headers)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
