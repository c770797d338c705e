-- wrk script: POST the JSON body in ROSTER_BODY to the URL's path, with ROSTER_TOKEN as bearer.
local token = os.getenv("ROSTER_TOKEN")
local body = os.getenv("ROSTER_BODY")

request = function()
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
