-- Record a delivery's outcome. KEYS: job, delayed[, index[, dead letter]];
-- ARGV: token, job id, ttl_s, now, n, n field/value args[, dead letter JSON, its px, the index's cutoff].
local no = refused(KEYS[1], ARGV[1])
if no then return no end
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + n))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
if KEYS[3] then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) end
if KEYS[4] then
  redis.call('SET', KEYS[4], ARGV[6 + n], 'PX', ARGV[7 + n])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[8 + n])
end
return {1}
