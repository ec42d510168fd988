-- Record a delivery's outcome and its event, in one script: an outcome without its event cannot exist.
-- KEYS: job, delayed, events[, index[, dead letter]];
-- ARGV: token, job id, ttl_s, now, n, n field/value args, m, m event field/value args
--       [, dead letter JSON, its px, the index's cutoff].
local no = refused(KEYS[1], ARGV[1])
if no then return no end
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + n))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
local m = tonumber(ARGV[6 + n])
redis.call('XADD', KEYS[3], '*', unpack(ARGV, 7 + n, 6 + n + m))
local rest = 7 + n + m
if KEYS[4] then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2]) end
if KEYS[5] then
  redis.call('SET', KEYS[5], ARGV[rest], 'PX', ARGV[rest + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[rest + 2])
end
return {1}
