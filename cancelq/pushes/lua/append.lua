-- append(seen key, stream; dedupe ttl ms, maxlen, field, value, ...): keep one push unless its message was seen.
-- Returns the entry id, or false for a duplicate (the platform's at-least-once delivery).
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then
  return false
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
