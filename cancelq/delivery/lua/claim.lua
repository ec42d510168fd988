-- claim(due index, claimed, the m endpoints' queues...; now, limit, claim_ms, cap, m, the m endpoint ids,
-- [endpoint, free]...): hand back deliveries whose claim expired (a sender died mid-attempt), then claim up to
-- `limit` due deliveries, at most `free` (else `cap`) of any one endpoint, so that one slow endpoint's backlog
-- never fills a sender. Each claim is a lease: it expires `claim_ms` from now. Only the endpoints passed (their
-- queue keys in KEYS) are touched; the others wait for the next call. Returns the claimed delivery ids
-- ("EVENT_ID:ENDPOINT_ID").
local due, claimed = KEYS[1], KEYS[2]
local now, limit, claim_ms, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local m = tonumber(ARGV[5])
local queue_of, free = {}, {}
for j = 1, m do queue_of[ARGV[5 + j]] = KEYS[2 + j] end
for i = 6 + m, #ARGV, 2 do free[ARGV[i]] = tonumber(ARGV[i + 1]) end

local function endpoint_of(id) return string.match(id, ':([^:]+)$') end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', claimed, '-inf', now, 'LIMIT', 0, 1000)) do
  local ep = endpoint_of(id)
  local queue = ep and queue_of[ep]
  if not ep then
    redis.call('ZREM', claimed, id)
  elseif queue then
    redis.call('ZREM', claimed, id)
    redis.call('ZADD', queue, now, id)
    redis.call('ZADD', due, 'LT', now, ep)
  end
end

local out = {}
for _, ep in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, 1000)) do
  if #out >= limit then break end
  local queue = queue_of[ep]
  local n = math.min(free[ep] or cap, limit - #out)
  if queue and n > 0 then
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
