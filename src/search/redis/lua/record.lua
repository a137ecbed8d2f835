-- Records airlines' answers to one search, each once: a repeat
-- (redelivery), an answer from an airline the search did not target, or
-- one after the search ended changes nothing. The last awaited answer
-- completes the search with the caller's `complete` event when the caller
-- built it from exactly what the search holds (it had every earlier event:
-- `expected` is their count, and every answer of this call is recorded);
-- otherwise it moves the search to completing, and the caller owes the
-- event.
--
-- The events' bytes never pass through Lua, which would hash every byte
-- of them to intern its arguments: the caller writes each event to a
-- field of its own (`x:<nonce>`) with a plain HSET just before this
-- script, which stores a reference to it (`@` then the field) as the
-- event, and deletes the fields of what it did not record. An HSET on a
-- search that is gone made a bare hash, which this deletes.
-- KEYS: search hash.
-- ARGV: id and the caller's tag (announced with the change), channel, now
--       ms, expected events (-1: no `complete`), the field holding the
--       tagged `complete` event or '', then per answer: provider,
--       progress JSON, offers count, number of events, the fields holding
--       its tagged events...
-- Returns {first new event id or 0, 0 running | 1 completing | 2 completed,
-- the client's running-searches key or '', then per answer 1 when recorded
-- else 0}.
local h = KEYS[1]
local fields = {'status', 'events', 'pending', 'total', 'client'}
local i = 6
while i <= #ARGV do
  fields[#fields + 1] = 'p:' .. ARGV[i]
  i = i + 4 + tonumber(ARGV[i + 3])
end
local got = redis.call('HMGET', h, unpack(fields))
local recorded = {0, 0, got[5] or ''}
local unused = {}
-- The staged fields of an answer (from ARGV[at]) this call does not record.
local function unstage(at)
  for j = 1, tonumber(ARGV[at + 3]) do
    unused[#unused + 1] = ARGV[at + 3 + j]
  end
end
-- Deletes what was staged and not recorded; returns `recorded`.
local function done()
  if #unused > 0 then
    redis.call('HDEL', h, unpack(unused))
  end
  return recorded
end
if ARGV[5] ~= '' then
  unused[1] = ARGV[5]
end
if got[1] ~= 'processing' then
  local gone = not got[1]
  if gone then
    redis.call('DEL', h)
  end
  i = 6
  while i <= #ARGV do
    recorded[#recorded + 1] = 0
    if not gone then
      unstage(i)
    end
    i = i + 4 + tonumber(ARGV[i + 3])
  end
  return gone and recorded or done()
end
local before = tonumber(got[2])
local n, answered, total = before, 0, tonumber(got[4])
local set, seen = {}, {}
local k = 5
i = 6
while i <= #ARGV do
  k = k + 1
  local provider, count = ARGV[i], tonumber(ARGV[i + 3])
  if pending(got[k]) and not seen[provider] then
    seen[provider] = true
    set[#set + 1] = 'p:' .. provider
    set[#set + 1] = ARGV[i + 1]
    answered = answered + 1
    total = total + tonumber(ARGV[i + 2])
    local events = {}
    for j = 1, count do
      events[j] = '@' .. ARGV[i + 3 + j]
    end
    n = append(set, n, events)
    recorded[#recorded + 1] = 1
  else
    recorded[#recorded + 1] = 0
    unstage(i)
  end
  i = i + 4 + count
end
if answered == 0 then
  return done()
end
local left = tonumber(got[3]) - answered
set[#set + 1] = 'pending'
set[#set + 1] = left
set[#set + 1] = 'total'
set[#set + 1] = total
if left <= 0 then
  if ARGV[5] ~= '' and before == tonumber(ARGV[4]) and answered == #fields - 5 then
    n = append(set, n, {'@' .. ARGV[5]})
    table.remove(unused, 1)
    set[#set + 1] = 'status'
    set[#set + 1] = 'completed'
    set[#set + 1] = 'finished_ms'
    set[#set + 1] = ARGV[3]
    recorded[2] = 2
  else
    set[#set + 1] = 'status'
    set[#set + 1] = 'completing'
    set[#set + 1] = 'outcome'
    set[#set + 1] = 'completed'
    recorded[2] = 1
  end
end
set[#set + 1] = 'events'
set[#set + 1] = n
redis.call('HSET', h, unpack(set))
local final = recorded[2] == 2 and 'c' or ''
redis.call('PUBLISH', ARGV[2], n .. final .. ' ' .. ARGV[1])
recorded[1] = before + 1
return done()
