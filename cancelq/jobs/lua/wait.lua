-- Park a running job until its due time and give up its lease. KEYS: job, delayed;
-- ARGV: token, job id, due_ms, n, n field/value args.
local no = refused(KEYS[1], ARGV[1])
if no then return no end
redis.call('HSET', KEYS[1], unpack(ARGV, 5, 4 + tonumber(ARGV[4])))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return {1}
