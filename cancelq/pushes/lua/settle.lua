-- End an open job on a push's evidence, unless it changed since it was read: the compare and the write are one
-- script, so no delivery can take the job between them (design.md "Never cancel twice").
-- KEYS: job, delayed, events[, elsewhere marker]
-- ARGV: now, job id, ttl_s, k, k expected field/value pairs (as read), n, n field/value args, m, m outcome event
--       args[, marker px, e, e order.cancelled_elsewhere event args]
-- Answers {1} or {0, why}: changed, missing, final, busy (a live delivery holds the lease).
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], F.state, F.lease_until, F.fence)
if not h[1] then return {0, 'missing'} end
if FINAL[h[1]] then return {0, 'final'} end
local lease = tonumber(h[2] or '')
if h[1] == S.running and lease and lease > now then return {0, 'busy'} end
local k = tonumber(ARGV[4])
local i = 5
for _ = 1, k do
  if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[i + 1] then return {0, 'changed'} end
  i = i + 2
end
local n = tonumber(ARGV[i])
redis.call('HSET', KEYS[1], unpack(ARGV, i + 1, i + n))
-- A new token: a delivery paused past its lease writes nothing after this outcome.
redis.call('HSET', KEYS[1], F.fence, tostring(tonumber(h[3] or '0') + 1))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
i = i + n + 1
local m = tonumber(ARGV[i])
redis.call('XADD', KEYS[3], '*', unpack(ARGV, i + 1, i + m))
i = i + m + 1
if KEYS[4] and redis.call('SET', KEYS[4], ARGV[2], 'NX', 'PX', ARGV[i]) then
  local e = tonumber(ARGV[i + 1])
  redis.call('XADD', KEYS[3], '*', unpack(ARGV, i + 2, i + 1 + e))
end
return {1}
