-- Appends of a 1 KB entry, each to one of INSTANCES instances (one, for the hot-instance scenario).
-- Environment: BENCH_INSTANCES (default 100), BENCH_PREFIX (instance id prefix, unique per run).
local instances = tonumber(os.getenv("BENCH_INSTANCES") or "100")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local filler = string.rep("x", 1000)
local counter = 0

function setup(thread)
  thread:set("thread_id", math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local instance = prefix .. "-" .. (counter % instances)
  local body = '{"type":"row","data":{"n":' .. counter .. ',"pad":"' .. filler .. '"}}'
  return wrk.format("POST", "/api/v1/instances/" .. instance .. "/history",
                    {["Content-Type"] = "application/json"}, body)
end
