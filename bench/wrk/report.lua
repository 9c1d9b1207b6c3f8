-- Shared by every bench script: one machine-readable line at the end of a wrk run.
-- Latencies are wrk's (closed loop, from write of the request to the end of the response), in us.
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
		'"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d,"mean":%.1f,"max":%d}\n',
		summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
		e.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
		latency.mean, latency.max))
end
