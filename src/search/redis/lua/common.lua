-- Shared by every search script. A search is one hash, `search:{<id>}`,
-- that expires with its results: the request, each airline's progress
-- (`p:<airline>`), counters, its state, and its SSE events, event n in
-- field `e:<n>` (a one-byte kind tag then its JSON, or `@` then the field
-- of the hash that holds them: see record.lua), `events` counting them. Event JSON is built by the api processes; scripts only decide,
-- atomically, whether and where it goes, and touch no other key, so a
-- Redis Cluster runs each on the search's slot.
--
-- A search's state moves processing -> completing -> completed | partial.
-- `completing` means every airline is accounted for and the `complete`
-- event is owed: the process that moved it there builds the event (from
-- the hash) and appends it with finish.lua; should that process die first,
-- whoever sweeps the deadline does.
--
-- Each change is announced on a Pub/Sub channel (`<events>[c] <id> [tag]`,
-- `c` when the change appended `complete`), which every api process
-- follows for the searches its SSE clients read; the tag names the process
-- that made the change and feeds its own readers itself.

local function pending(progress)
  return progress and string.sub(progress, 1, 19) == '{"status":"pending"'
end

-- Adds `events` after event `n` to the HSET arguments `set`; returns the
-- new count.
local function append(set, n, events)
  for _, event in ipairs(events) do
    n = n + 1
    set[#set + 1] = string.format('e:%d', n)
    set[#set + 1] = event
  end
  return n
end
