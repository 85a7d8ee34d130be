-- wrk script: at the end of a run, print one machine-readable line for tests/bench/run.
-- Latencies are in microseconds, as wrk records them. wrk's own text report is printed too;
-- the harness reads only the line that starts with "BENCH ".
done = function(summary, latency, requests)
   local e = summary.errors
   local served = summary.requests > 0
   io.write(string.format(
      "BENCH {\"requests\": %d, \"duration_us\": %d, \"connect\": %d, \"read\": %d, " ..
      "\"write\": %d, \"status\": %d, \"timeout\": %d, \"p50_us\": %s, \"p99_us\": %s, " ..
      "\"max_us\": %s}\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      served and tostring(latency:percentile(50)) or "null",
      served and tostring(latency:percentile(99)) or "null",
      served and tostring(latency.max) or "null"))
end
