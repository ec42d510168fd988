-- claim(due index, claimed; now, limit, claim_ms, cap, queue prefix, [endpoint, free]...): hand back deliveries
-- whose claim expired (a sender died mid-attempt), then claim up to `limit` due deliveries, at most `free` (else
-- `cap`) of any one endpoint, so that one slow endpoint's backlog never fills a sender. Each claim is a lease:
-- it expires `claim_ms` from now. Returns the claimed delivery ids ("EVENT_ID:ENDPOINT_ID").
local due, claimed = KEYS[1], KEYS[2]
local now, limit, claim_ms, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix = ARGV[5]
local free = {}
for i = 6, #ARGV, 2 do free[ARGV[i]] = tonumber(ARGV[i + 1]) end

local function endpoint_of(id) return string.match(id, ':([^:]+)$') end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', claimed, '-inf', now, 'LIMIT', 0, 1000)) do
  local ep = endpoint_of(id)
  redis.call('ZREM', claimed, id)
  if ep then
    redis.call('ZADD', prefix .. ep, now, id)
    redis.call('ZADD', due, 'LT', now, ep)
  end
end

local out = {}
for _, ep in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, 1000)) do
  if #out >= limit then break end
  local n = math.min(free[ep] or cap, limit - #out)
  if n > 0 then
    local queue = prefix .. ep
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', queue, '-inf', now, 'LIMIT', 0, n)) do
      redis.call('ZREM', queue, id)
      redis.call('ZADD', claimed, now + claim_ms, id)
      out[#out + 1] = id
    end
    local next_due = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
    if next_due[1] then redis.call('ZADD', due, next_due[2], ep) else redis.call('ZREM', due, ep) end
  end
end
return out
