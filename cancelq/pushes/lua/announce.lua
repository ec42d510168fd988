-- announce(marker, events stream; ttl ms, marker value, field, value, ...): tell of a buyer's request once.
-- The marker (what was decided) and the event are one write; a request announced before appends nothing.
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1]) == false then
  return false
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
return redis.call('XADD', KEYS[2], '*', unpack(fields))
