-- Ends a search at its deadline, once, whichever api process gets there
-- first: each airline still pending gets a `timeout` provider event and the
-- search moves to completing (partial). A search already completing whose
-- `complete` never came (its process died) is owed it by the caller too.
-- KEYS: search hash, events list, deadlines, events stream.
-- ARGV: id, now ms, stream max length, the timeout reason.
-- Returns 1 when the caller must build and append `complete`, else 0.
local id, now = ARGV[1], tonumber(ARGV[2])
local st = redis.call('HMGET', KEYS[1], 'status', 'providers', 'created_ms', 'expires_ms')
if st[1] == 'completing' then
  return 1
end
if st[1] ~= 'processing' then
  redis.call('ZREM', KEYS[3], id)
  return 0
end
local elapsed = string.format('%d', now - tonumber(st[3]))
-- The same fields as the memory store's (`events::timeout_event`).
local tail = ',"status":"timeout","offers":0,"elapsed_ms":' .. elapsed ..
  ',"error":"' .. ARGV[4] .. '","cached":false}'
local events = {}
for p in string.gmatch(st[2], '[^,]+') do
  if pending(redis.call('HGET', KEYS[1], 'p:' .. p)) then
    redis.call('HSET', KEYS[1], 'p:' .. p, '{' .. string.sub(tail, 2))
    events[#events + 1] = 'p{"type":"provider","search_id":"' .. id ..
      '","provider":"' .. p .. '"' .. tail
  end
end
redis.call('HSET', KEYS[1], 'status', 'completing', 'outcome', 'partial', 'pending', 0)
if #events > 0 then
  append(KEYS[1], KEYS[2], KEYS[4], id, events, st[4], ARGV[3])
end
return 1
