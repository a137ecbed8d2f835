-- Accepts a search: refuses it when its client already has its most
-- searches running, makes room under the retention cap (evicting the oldest
-- finished search, or refusing when every retained one still runs), stores
-- it with its deadline and publishes it to the requested stream.
-- KEYS: search hash, deadlines, retained, finished, requested stream, the
--       client's searches running (ids by deadline; finish.lua removes).
-- ARGV: id, request JSON, created ms, deadline ms, expires ms, now ms, cap,
--       stream max length, search key prefix, pending progress JSON,
--       expiry as RFC 3339 (exact, for snapshots), the client's most
--       searches running, provider ids (sorted)...
-- Returns the searches retained, minus the count when full, or 0 when the
-- client has its most running.
local id, now, cap = ARGV[1], tonumber(ARGV[6]), tonumber(ARGV[7])
-- The first write is one that a full Redis (maxmemory, noeviction) refuses:
-- a script that has written once runs to its end, so starting with the
-- removals below would store searches whose answers Redis then refuses.
redis.call('HSET', KEYS[1], 'status', 'creating')
local most = tonumber(ARGV[12])
if redis.call('ZCARD', KEYS[6]) >= most then
  -- A search past its deadline no longer counts, even if its `complete`
  -- never came; dropped only here, so the usual path costs one command.
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  if redis.call('ZCARD', KEYS[6]) >= most then
    redis.call('DEL', KEYS[1])
    return 0
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(2 * cap) - 1)
local count = redis.call('ZCARD', KEYS[3])
while count >= cap do
  local oldest = redis.call('ZPOPMIN', KEYS[4])
  if #oldest == 0 then
    redis.call('DEL', KEYS[1])
    return -count
  end
  local old = oldest[1]
  if redis.call('ZREM', KEYS[3], old) == 1 then
    redis.call('UNLINK', ARGV[9] .. old, ARGV[9] .. old .. ':events')
    count = count - 1
  end
end
local fields = {'request', ARGV[2], 'status', 'processing', 'events', 0,
  'total', 0, 'created_ms', ARGV[3], 'expires_ms', ARGV[5],
  'expires_at', ARGV[11], 'pending', #ARGV - 12, 'client', KEYS[6]}
local providers = {}
for i = 13, #ARGV do
  providers[#providers + 1] = ARGV[i]
  fields[#fields + 1] = 'p:' .. ARGV[i]
  fields[#fields + 1] = ARGV[10]
end
fields[#fields + 1] = 'providers'
fields[#fields + 1] = table.concat(providers, ',')
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], id)
redis.call('ZADD', KEYS[3], ARGV[5], id)
redis.call('ZADD', KEYS[6], ARGV[4], id)
-- Gone with the latest search's results, long after every deadline in it.
redis.call('PEXPIREAT', KEYS[6], ARGV[5])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'data', ARGV[2])
return count + 1
