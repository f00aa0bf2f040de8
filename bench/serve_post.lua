-- bench/serve_post.lua — wrk script of bench/serve.sh: each request POSTs
-- one small event whose id is unique (the run's tag, wrk's thread, a
-- counter), so that no request is a duplicate the store would skip; at the
-- end one JSON line with wrk's counts and latency percentiles.
--   wrk ... -s bench/serve_post.lua URL/events -- TAG

local threads = {}

function setup(thread)
	thread:set("tid", #threads + 1)
	table.insert(threads, thread)
end

function init(args)
	prefix = (args[1] or "run") .. "-" .. tid .. "-"
	n = 0
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/x-ndjson"
end

function request()
	n = n + 1
	return wrk.format(nil, nil, nil,
		'{"id":"' .. prefix .. n .. '","type":"bench","data":{"n":' .. n .. '}}\n')
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format('{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
		'"write":%d,"timeout":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
		summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
		e.status, latency:percentile(50), latency:percentile(99), latency.max))
end
