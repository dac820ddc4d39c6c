-- wrk script: prints one machine-readable line at the end of a run.
-- Optional first argument (after `--`): a per-connection pause in ms before each
-- request, which paces the load to about connections * 1000 / pause req/s
-- (a closed loop with think time; wrk has no open-loop mode, wrk2 is not in Debian).
local pause = 0

function init(args)
  if args[1] then pause = tonumber(args[1]) end
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH {\"requests\":%d,\"duration_us\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"mean_us\":%.1f}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
