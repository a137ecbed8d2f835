-- One search of one client against its rate (GCRA), atomically, on Redis's
-- own clock so every api process agrees.
-- KEYS[1]: the client's bucket (its theoretical arrival time, in µs).
-- ARGV[1]: µs between two searches at the average rate; ARGV[2]: burst.
-- Returns {1, searches left at once, µs until full} when allowed,
-- {0, µs until the next is allowed, 0} when not.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then
  tat = now
end
local nxt = tat + interval
local ahead = nxt - now
if ahead > tolerance then
  return {0, ahead - tolerance, 0}
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor(ahead / 1000) + 1)
return {1, math.floor((tolerance - ahead) / interval), ahead}
