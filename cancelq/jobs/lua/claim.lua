-- Claim what is due on the delayed set (see cancelq/jobs/delayed.py).
local now = tonumber(ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[2])
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(due) do
  local h = redis.call('HMGET', ARGV[4] .. id, F.state, F.lease_until)
  local lease = tonumber(h[2] or '')
  if h[1] == S.running and lease and lease > now then
    redis.call('ZADD', KEYS[1], lease, id)
  elseif not h[1] or FINAL[h[1]] then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    out[#out + 1] = id
  end
end
return out
