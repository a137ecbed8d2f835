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
--
-- Written for Redis's Lua 5.1 on the hot path (callgrind counts it): each
-- count read once, tables filled by explicit index, and numbers turned
-- into strings by `%d`, where Lua's own conversion prints a float (`%.14g`).
local h = KEYS[1]
local argc = #ARGV
local fields = {'status', 'events', 'pending', 'total', 'client'}
local nf = 5
local counts = {}
local i = 6
while i <= argc do
  local count = tonumber(ARGV[i + 3])
  nf = nf + 1
  fields[nf] = 'p:' .. ARGV[i]
  counts[nf] = count
  i = i + 4 + count
end
local got = redis.call('HMGET', h, unpack(fields))
local recorded = {0, 0, got[5] or ''}
local nr = 3
local unused, nu = {}, 0
-- The staged fields of an answer (from ARGV[at], `count` events) this
-- call does not record.
local function unstage(at, count)
  for j = at + 4, at + 3 + count do
    nu = nu + 1
    unused[nu] = ARGV[j]
  end
end
-- Deletes what was staged and not recorded; returns `recorded`.
local function done()
  if nu > 0 then
    redis.call('HDEL', h, unpack(unused))
  end
  return recorded
end
if ARGV[5] ~= '' then
  nu = 1
  unused[1] = ARGV[5]
end
if got[1] ~= 'processing' then
  local gone = not got[1]
  if gone then
    redis.call('DEL', h)
  end
  i = 6
  for k = 6, nf do
    nr = nr + 1
    recorded[nr] = 0
    if not gone then
      unstage(i, counts[k])
    end
    i = i + 4 + counts[k]
  end
  return gone and recorded or done()
end
local before = tonumber(got[2])
local n, answered, total = before, 0, tonumber(got[4])
local set, ns, seen = {}, 0, {}
i = 6
for k = 6, nf do
  local provider, count = ARGV[i], counts[k]
  nr = nr + 1
  if pending(got[k]) and not seen[provider] then
    seen[provider] = true
    set[ns + 1] = fields[k]
    set[ns + 2] = ARGV[i + 1]
    ns = ns + 2
    answered = answered + 1
    total = total + tonumber(ARGV[i + 2])
    for j = i + 4, i + 3 + count do
      n = n + 1
      set[ns + 1] = string.format('e:%d', n)
      set[ns + 2] = '@' .. ARGV[j]
      ns = ns + 2
    end
    recorded[nr] = 1
  else
    recorded[nr] = 0
    unstage(i, count)
  end
  i = i + 4 + count
end
if answered == 0 then
  return done()
end
local left = tonumber(got[3]) - answered
set[ns + 1] = 'pending'
set[ns + 2] = string.format('%d', left)
set[ns + 3] = 'total'
set[ns + 4] = string.format('%d', total)
ns = ns + 4
local final = ''
if left <= 0 then
  if ARGV[5] ~= '' and before == tonumber(ARGV[4]) and answered == nf - 5 then
    n = n + 1
    set[ns + 1] = string.format('e:%d', n)
    set[ns + 2] = '@' .. ARGV[5]
    set[ns + 3] = 'status'
    set[ns + 4] = 'completed'
    set[ns + 5] = 'finished_ms'
    set[ns + 6] = ARGV[3]
    ns = ns + 6
    -- The `complete` event is recorded: not deleted.
    unused[1] = unused[nu]
    unused[nu] = nil
    nu = nu - 1
    recorded[2] = 2
    final = 'c'
  else
    set[ns + 1] = 'status'
    set[ns + 2] = 'completing'
    set[ns + 3] = 'outcome'
    set[ns + 4] = 'completed'
    ns = ns + 4
    recorded[2] = 1
  end
end
local count = string.format('%d', n)
set[ns + 1] = 'events'
set[ns + 2] = count
redis.call('HSET', h, unpack(set))
redis.call('PUBLISH', ARGV[2], count .. final .. ' ' .. ARGV[1])
recorded[1] = before + 1
return done()
