-- Batches of BENCH_BATCH 1 KB entries, each batch to one of 100 instances (ids made by the server).
local size = tonumber(os.getenv("BENCH_BATCH") or "100")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local entry = '{"type":"row","data":{"pad":"' .. string.rep("x", 1000) .. '"}}'
local parts = {}
for i = 1, size do parts[i] = entry end
local body = '{"entries":[' .. table.concat(parts, ",") .. ']}'
local counter = 0

function request()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/instances/" .. prefix .. "-" .. (counter % 100) .. "/history/batch",
                    {["Content-Type"] = "application/json"}, body)
end
