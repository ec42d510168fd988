-- receive(seen key, stream, counts hash, minute hash; dedupe ttl ms, maxlen, platform, minute ttl s, field, value, ...):
-- append.lua's keep-once, and the receiver's count of it (accepted or duplicate; answered and ok in the minute),
-- in one call. Returns the entry id, or false for a duplicate.
local platform = ARGV[3]
redis.call('HINCRBY', KEYS[4], platform .. '|all', 1)
redis.call('HINCRBY', KEYS[4], platform .. '|ok', 1)
redis.call('EXPIRE', KEYS[4], ARGV[4])
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then
  redis.call('HINCRBY', KEYS[3], platform .. '|duplicate', 1)
  return false
end
redis.call('HINCRBY', KEYS[3], platform .. '|accepted', 1)
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
