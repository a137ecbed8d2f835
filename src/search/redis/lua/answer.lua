-- Records airlines' answers to one search, each once: a repeat
-- (redelivery), an answer from an airline the search did not target, or
-- one after the search ended changes nothing. The last awaited answer moves
-- the search to completing.
-- KEYS: search hash, events list, events stream.
-- ARGV: id, stream max length, then per answer: provider, progress JSON,
--       offers count, number of events, tagged events...
-- Returns {first new event id or 0, 1 when now completing else 0, then per
-- answer 1 when recorded else 0}.
local id = ARGV[1]
local st = redis.call('HMGET', KEYS[1], 'status', 'expires_ms')
local recorded = {0, 0}
local events, answered, total = {}, 0, 0
local i = 3
while i <= #ARGV do
  local field, n = 'p:' .. ARGV[i], tonumber(ARGV[i + 3])
  if st[1] == 'processing' and pending(redis.call('HGET', KEYS[1], field)) then
    redis.call('HSET', KEYS[1], field, ARGV[i + 1])
    answered = answered + 1
    total = total + tonumber(ARGV[i + 2])
    for j = 1, n do
      events[#events + 1] = ARGV[i + 3 + j]
    end
    recorded[#recorded + 1] = 1
  else
    recorded[#recorded + 1] = 0
  end
  i = i + 4 + n
end
if answered == 0 then
  return recorded
end
if total > 0 then
  redis.call('HINCRBY', KEYS[1], 'total', total)
end
recorded[1] = append(KEYS[1], KEYS[2], KEYS[3], id, events, st[2], ARGV[2])
if redis.call('HINCRBY', KEYS[1], 'pending', -answered) <= 0 then
  redis.call('HSET', KEYS[1], 'status', 'completing', 'outcome', 'completed')
  recorded[2] = 1
end
return recorded
