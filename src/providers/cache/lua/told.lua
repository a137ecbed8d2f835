-- Keeps an airline answer, releases the question, tells the waiters.
-- KEYS[1]: the kept answer; KEYS[2]: the question's lock.
-- ARGV[1]: the asker's token; ARGV[2]: how long to keep the answer in
-- milliseconds (0: not kept); ARGV[3]: the answer to keep;
-- ARGV[4]: the answers channel; ARGV[5]: the message for the waiters.
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
