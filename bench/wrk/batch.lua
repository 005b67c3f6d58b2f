-- Batches of BENCH_BATCH 1 KB entries, each batch to one of 100 instances; every entry has a fresh UUID id,
-- as a batch requires (a retry would send the same ones).
local size = tonumber(os.getenv("BENCH_BATCH") or "100")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local tail = '","type":"row","data":{"pad":"' .. string.rep("x", 1000) .. '"}}'
local counter = 0
thread_tag = 0  -- a global: setup() gives each thread its own

function setup(thread)
  thread:set("thread_tag", math.random(0, 0xffffffff))
end

function request()
  counter = counter + 1
  local parts = {}
  for i = 1, size do
    parts[i] = string.format('{"id":"%08x-0000-4000-8000-%012x', thread_tag, counter * size + i) .. tail
  end
  local body = '{"entries":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/instances/" .. prefix .. "-" .. (counter % 100) .. "/history/batch",
                    {["Content-Type"] = "application/json"}, body)
end
