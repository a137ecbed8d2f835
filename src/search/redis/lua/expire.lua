-- Ends a search at its deadline, once, whichever api process gets there
-- first: each airline still pending gets a `timeout` provider event and the
-- search moves to completing (partial). A search already completing whose
-- `complete` never came (its process died) is owed it by the caller too.
-- KEYS: search hash.
-- ARGV: id, now ms, the timeout reason, channel.
-- Returns 1 when the caller must build and append `complete`, -1 when the
-- search is not there (expired, or lost with a master), else 0.
local h, id, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local st = redis.call('HMGET', h, 'status', 'providers', 'created_ms', 'events')
if st[1] == 'completing' then
  return 1
end
if not st[1] then
  return -1
end
if st[1] ~= 'processing' then
  return 0
end
local providers, fields = {}, {}
for p in string.gmatch(st[2], '[^,]+') do
  providers[#providers + 1] = p
  fields[#fields + 1] = 'p:' .. p
end
local progress = redis.call('HMGET', h, unpack(fields))
local elapsed = string.format('%d', now - tonumber(st[3]))
-- The same fields as the memory store's (`events::timeout_event`).
local tail = ',"status":"timeout","offers":0,"elapsed_ms":' .. elapsed ..
  ',"error":"' .. ARGV[3] .. '","cached":false}'
local set, events = {}, {}
for j, p in ipairs(providers) do
  if pending(progress[j]) then
    set[#set + 1] = 'p:' .. p
    set[#set + 1] = '{' .. string.sub(tail, 2)
    events[#events + 1] = 'p{"type":"provider","search_id":"' .. id ..
      '","provider":"' .. p .. '"' .. tail
  end
end
local n = append(set, tonumber(st[4]), events)
set[#set + 1] = 'status'
set[#set + 1] = 'completing'
set[#set + 1] = 'outcome'
set[#set + 1] = 'partial'
set[#set + 1] = 'pending'
set[#set + 1] = 0
set[#set + 1] = 'events'
set[#set + 1] = n
redis.call('HSET', h, unpack(set))
if #events > 0 then
  redis.call('PUBLISH', ARGV[4], n .. ' ' .. id)
end
return 1
