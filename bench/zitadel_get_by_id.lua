-- wrk script: the ZITADEL dialect's Connect GetUserByID for ids read from the file named by
-- ROSTER_IDS, round robin, as ZITADEL's SDKs send it (POST, the request message as JSON).
local ids = {}
for line in io.lines(os.getenv("ROSTER_IDS")) do ids[#ids + 1] = line end
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("ROSTER_TOKEN"),
  ["Content-Type"] = "application/json",
}
local i = 0

request = function()
  i = i % #ids + 1
  return wrk.format("POST", "/compat/zitadel/zitadel.user.v2.UserService/GetUserByID", headers,
    '{"userId":"' .. ids[i] .. '"}')
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
