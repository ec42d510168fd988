-- Claim what is due on the delayed set (see cancelq/jobs/delayed.py). KEYS: delayed, claimed, then the job key
-- of each candidate; ARGV: now, limit, claim ms, then the candidates' ids (the caller read them just before).
-- A due job that is not a candidate stays due for the next call.
local now = tonumber(ARGV[1])
local job_key = {}
for i = 4, #ARGV do job_key[ARGV[i]] = KEYS[i - 1] end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, ARGV[2])
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(due) do
  local key = job_key[id]
  if key then
    local h = redis.call('HMGET', key, F.state, F.lease_until)
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
end
return out
