-- complete(campaign hash, now, ttl, other keys): mark the campaign finished once its file is read and every job
-- it sent is final, exactly once per round (HSETNX), and let its keys expire. Returns 2 when this call finished it.
local function complete(campaign, now, ttl, others)
  local c = redis.call('HMGET', campaign, 'intake_done_at', 'done', 'total')
  if c[1] and c[1] ~= '' and tonumber(c[2] or '0') >= tonumber(c[3] or '0') then
    if redis.call('HSETNX', campaign, 'finished_at', now) == 1 then
      redis.call('EXPIRE', campaign, ttl)
      for _, k in ipairs(others) do redis.call('EXPIRE', k, ttl) end
      return 2
    end
  end
  return 1
end
