-- The lease rule, shared by begin.lua and the gate's fused begin (cancelq/gate/lua/gate.lua).
-- Taking the lease bumps the job's fencing token: every later write of the delivery carries it, and a
-- script refuses a write whose token is not the job's current one.
-- ``h`` is the job's hash as read; ``timer``: whether the job's timer must move to the lease's expiry
-- (a fresh job keeps its intake safety net unless the lease ends first).
local function take_lease(h, delayed, job_id, now, lease_ms, safety_net_ms, fresh)
  local until_ = now + lease_ms
  if not fresh or tonumber(h[F.created_at] or '0') + safety_net_ms > until_ then
    redis.call('ZADD', delayed, until_, job_id)
  end
  local lease = {F.state, S.running, F.updated_at, tostring(now),
                 F.deliveries, tostring(tonumber(h[F.deliveries] or '0') + 1),
                 F.lease_until, tostring(until_), F.fence, tostring(tonumber(h[F.fence] or '0') + 1)}
  for i = 1, #lease, 2 do h[lease[i]] = lease[i + 1] end
  return lease
end

local function flat(h)
  local out = {}
  for k, v in pairs(h) do out[#out + 1] = k; out[#out + 1] = v end
  return out
end
