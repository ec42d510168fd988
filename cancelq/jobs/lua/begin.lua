-- Take the lease of a job a delivery was sent for (KEYS: job, delayed, claimed; ARGV: job id, now, lease_ms,
-- safety_net_ms). Answers run (with the record), final, busy/early (until when) or missing.
local flat_h = redis.call('HGETALL', KEYS[1])
if #flat_h == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'missing'}
end
local h = {}
for i = 1, #flat_h, 2 do h[flat_h[i]] = flat_h[i + 1] end
local state = h[F.state]
if state ~= S.queued then redis.call('ZREM', KEYS[3], ARGV[1]) end
if FINAL[state] then return {'final', state} end
local now = tonumber(ARGV[2])
local lease = tonumber(h[F.lease_until] or '')
if state == S.running and lease and lease > now then return {'busy', tostring(lease)} end
if state == S.waiting then
  local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if due and tonumber(due) > now then return {'early', due} end
end
redis.call('HSET', KEYS[1], unpack(take_lease(h, KEYS[2], ARGV[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]),
                                              state == S.queued)))
return {'run', flat(h)}
