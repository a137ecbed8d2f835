-- Records one airline's answer, once: a repeat (redelivery), an answer from
-- an airline the search did not target, or one after the search ended
-- changes nothing. The last awaited answer moves the search to completing.
-- KEYS: search hash, events list, events stream.
-- ARGV: id, provider, progress JSON, offers count, stream max length,
--       tagged events...
-- Returns the first new event's id (negated when the search is now
-- completing), or 0 when ignored.
local id, provider = ARGV[1], ARGV[2]
local st = redis.call('HMGET', KEYS[1], 'status', 'p:' .. provider, 'expires_ms')
if st[1] ~= 'processing' or not pending(st[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'p:' .. provider, ARGV[3])
if ARGV[4] ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'total', ARGV[4])
end
local first = append(KEYS[1], KEYS[2], KEYS[3], id, {unpack(ARGV, 6)}, st[3], ARGV[5])
if redis.call('HINCRBY', KEYS[1], 'pending', -1) <= 0 then
  redis.call('HSET', KEYS[1], 'status', 'completing', 'outcome', 'completed')
  return -first
end
return first
