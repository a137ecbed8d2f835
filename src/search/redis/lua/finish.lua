-- Appends a completing search's `complete` event, once: a second caller
-- (two processes finishing the same search) changes nothing.
-- KEYS: search hash.
-- ARGV: id and the caller's tag (announced with the change), tagged
--       `complete` event, now ms, channel.
-- Returns {the id of the `complete` event when appended else 0, the
-- client's running-searches key or ''}.
local h = KEYS[1]
local st = redis.call('HMGET', h, 'status', 'outcome', 'events', 'client')
if st[1] ~= 'completing' then
  return {0, st[4] or ''}
end
local n = tonumber(st[3]) + 1
redis.call('HSET', h, 'status', st[2], 'finished_ms', ARGV[3], 'events', n, 'e:' .. n, ARGV[2])
redis.call('PUBLISH', ARGV[4], n .. 'c ' .. ARGV[1])
return {n, st[4] or ''}
