-- One request class of droplin's API, chosen by BENCH_CLASS:
--   profile_get, devices_get   GET with a random user's token
--   profile_post               POST /user/profile, a small merge (name and bio)
--   device_post                POST /devices, an upsert of one of 8 device names per user
--   login                      POST /auth/login with one of the login users' credentials
-- BENCH_TOKENS: file of "user_id token" lines; BENCH_LOGINS: file of "username password" lines.
-- BENCH_HOST: the Host header (wrk.format adds none for requests built when the script loads).
-- BENCH_THINK_MS > 0 paces each connection (a random pause of 0.5x to 1.5x between requests).
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")

local class = os.getenv("BENCH_CLASS")
local host = os.getenv("BENCH_HOST")
local think = tonumber(os.getenv("BENCH_THINK_MS") or "0")
local reqs = {}

-- Distinct seeds per wrk thread: each thread has its own Lua state, loaded at a different time.
math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)

local function json_headers(token)
	local h = {["Host"] = host, ["Content-Type"] = "application/json"}
	if token then h["Authorization"] = "Bearer " .. token end
	return h
end

if class == "login" then
	for line in io.lines(os.getenv("BENCH_LOGINS")) do
		local user, pw = line:match("^(%S+) (%S+)$")
		local body = string.format('{"username":"%s","password":"%s"}', user, pw)
		reqs[#reqs + 1] = wrk.format("POST", "/auth/login", json_headers(nil), body)
	end
else
	for line in io.lines(os.getenv("BENCH_TOKENS")) do
		local uid, token = line:match("^(%d+) (%S+)$")
		if class == "profile_get" then
			reqs[#reqs + 1] = wrk.format("GET", "/user/profile", json_headers(token))
		elseif class == "devices_get" then
			reqs[#reqs + 1] = wrk.format("GET", "/devices", json_headers(token))
		elseif class == "profile_post" then
			for v = 1, 4 do
				local body = string.format('{"name":"Bench User %s","bio":"bench bio %d"}', uid, v)
				reqs[#reqs + 1] = wrk.format("POST", "/user/profile", json_headers(token), body)
			end
		elseif class == "device_post" then
			for d = 1, 8 do
				local body = string.format(
					'{"name":"bench-dev-%d","rssi":-%d,"distance":%d.5,"action":"dropped"}', d, 40 + d, d)
				reqs[#reqs + 1] = wrk.format("POST", "/devices", json_headers(token), body)
			end
		else
			error("unknown BENCH_CLASS " .. tostring(class))
		end
	end
end

function request()
	return reqs[math.random(#reqs)]
end

if think > 0 then
	function delay()
		return think * (0.5 + math.random())
	end
end
