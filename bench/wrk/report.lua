-- Shared by every scenario: print wrk's summary as one JSON line, which bench/harness.py reads (the last line).
function done(summary, latency, requests)
  if per_second_report then per_second_report() end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.6f,"non_2xx":%d,"socket_errors":%d,"timeouts":%d,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, seconds, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
