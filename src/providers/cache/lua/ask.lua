-- Looks up an airline answer, or takes the question (SPEC section 11).
-- KEYS[1]: the kept answer; KEYS[2]: the lock of whoever asks the airline.
-- ARGV[1]: 1 when a kept answer may serve; ARGV[2]: this asker's token;
-- ARGV[3]: how long the lock holds, in milliseconds.
-- Returns {'hit', answer}, {'lead'} (this process asks), or {'wait'}
-- (another asks: wait for its message on the answers channel).
if ARGV[1] == '1' then
  local kept = redis.call('GET', KEYS[1])
  if kept then
    return {'hit', kept}
  end
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {'lead'}
end
return {'wait'}
