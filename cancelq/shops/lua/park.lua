-- Park shops after a configuration fault, and append the one alert (scope.parked) in the same call.
-- KEYS: the events stream, then each shop's hash. ARGV: the park (JSON), the event's version, its data (JSON).
-- A shop already parked, or gone, is left as it is; no event when nothing was newly parked.
local parked = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 and (redis.call('HGET', KEYS[i], 'parked') or '') == '' then
    redis.call('HSET', KEYS[i], 'parked', ARGV[1])
    parked[#parked + 1] = redis.call('HGET', KEYS[i], 'name')
  end
end
if #parked > 0 then
  local data = cjson.decode(ARGV[3])
  data['shops'] = parked
  redis.call('XADD', KEYS[1], '*', 'type', 'scope.parked', 'v', ARGV[2], 'data', cjson.encode(data))
end
return parked
