-- One kind of request, to one of the instances in BENCH_IDS (comma-separated) at random:
-- BENCH_METHOD (GET) BENCH_PATH, where "{id}" becomes the instance id; BENCH_BODY is sent as JSON.
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/healthz"
local body = os.getenv("BENCH_BODY")
local ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS") or "none", "[^,]+") do ids[#ids + 1] = id end
local headers = body and {["Content-Type"] = "application/json"} or {}

function request()
  local id = ids[math.random(1, #ids)]
  return wrk.format(method, (string.gsub(path, "{id}", id)), headers, body)
end
