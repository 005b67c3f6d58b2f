-- Counts the 2xx answers of each second of the clock (os.time's whole seconds), across every thread, and prints
-- them as one JSON line before the summary: a scenario that changes the service mid-run (bench/anchoring.py)
-- reads each window's rate from it. Loaded after the request script, whose setup it keeps calling.
answered = {}
local threads = {}
local request_setup = setup

function setup(thread)
  table.insert(threads, thread)
  if request_setup then request_setup(thread) end
end

function response(status, headers, body)
  if status < 300 then
    local second = os.time()
    answered[second] = (answered[second] or 0) + 1
  end
end

function per_second_report()
  local merged = {}
  for _, thread in ipairs(threads) do
    for second, count in pairs(thread:get("answered")) do
      merged[second] = (merged[second] or 0) + count
    end
  end
  local fields = {}
  for second, count in pairs(merged) do
    table.insert(fields, string.format('"%d":%d', second, count))
  end
  io.write('{"per_second":{' .. table.concat(fields, ",") .. '}}\n')
end
