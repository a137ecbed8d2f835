-- Shared by every search script. A search lives in two keys that expire
-- with its results: a hash (request, progress per airline, counters, state)
-- and a list of its SSE events, each a one-byte kind tag then its JSON; the
-- list's index is the event id minus one. Event JSON is built by the api
-- processes; scripts only decide, atomically, whether and where it goes.
--
-- A search's state moves processing -> completing -> completed | partial.
-- `completing` means every airline is accounted for and the `complete`
-- event is owed: the process that moved it there builds the event (from
-- the list) and appends it with finish.lua; should that process die first,
-- whoever sweeps the deadline does.

-- Appends tagged events to the list and announces them on the events
-- stream, which every api process follows. Returns the first event's id.
local function append(h, l, e, id, events, expires, maxlen)
  local n = #events
  local last = redis.call('HINCRBY', h, 'events', n)
  if redis.call('RPUSH', l, unpack(events)) == n then
    redis.call('PEXPIREAT', l, expires)
  end
  redis.call('XADD', e, 'MAXLEN', '~', maxlen, '*', 's', id, 'n', last)
  return last - n + 1
end

local function pending(progress)
  return progress and string.sub(progress, 1, 19) == '{"status":"pending"'
end
