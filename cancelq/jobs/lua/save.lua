-- Write fields of a running job for its lease holder. KEYS: job; ARGV: token, field/value args.
local no = refused(KEYS[1], ARGV[1])
if no then return no end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return {1}
