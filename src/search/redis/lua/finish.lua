-- Appends a completing search's `complete` event, once: a second caller
-- (two processes finishing the same search) changes nothing.
-- KEYS: search hash, events list, deadlines, finished, events stream, and
--       the client's searches running, when it has one.
-- ARGV: id, tagged `complete` event, now ms, stream max length.
-- Returns the id of the `complete` event when appended, else 0.
local id = ARGV[1]
local st = redis.call('HMGET', KEYS[1], 'status', 'outcome', 'expires_ms')
if st[1] ~= 'completing' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', st[2], 'finished_ms', ARGV[3])
local at = append(KEYS[1], KEYS[2], KEYS[5], id, {ARGV[2]}, st[3], ARGV[4])
redis.call('ZREM', KEYS[3], id)
redis.call('ZADD', KEYS[4], ARGV[3], id)
if KEYS[6] then
  redis.call('ZREM', KEYS[6], id)
end
return at
