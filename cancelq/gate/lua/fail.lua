-- Count a transient failure on a circuit; open it (and append circuit.opened to the events) past the
-- threshold, at once on a store lock, or again after a failed probe. KEYS: gate hash, events.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local threshold, base_ms, max_ms, force = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local state = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
local failures = 1
if state[2] then
  local count, last = string.match(state[2], '^(%S+) (%S+)$')
  if now - tonumber(last) <= tonumber(ARGV[7]) then failures = tonumber(count) + 1 end
end
local open_until, open_ms = 0, 0
if state[1] then
  local u, ms = string.match(state[1], '^(%S+) (%S+)')
  open_until, open_ms = tonumber(u), tonumber(ms)
end
local was_probing = open_until > 0 and open_until <= now
if force or failures >= threshold or was_probing then
  if was_probing and open_ms > 0 then open_ms = math.min(open_ms * 2, max_ms) else open_ms = base_ms end
  redis.call('HSET', KEYS[1], ARGV[1], (now + open_ms) .. ' ' .. open_ms .. ' - 0')
  redis.call('HDEL', KEYS[1], ARGV[2])
  local data = cjson.decode(ARGV[8])
  data['open_s'], data['failures'] = open_ms / 1000, failures
  redis.call('XADD', KEYS[2], '*', 'type', 'circuit.opened', 'v', ARGV[9], 'data', cjson.encode(data))
  return 1
end
redis.call('HSET', KEYS[1], ARGV[2], failures .. ' ' .. now)
return 0
