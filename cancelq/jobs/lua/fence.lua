-- A delivery's write is refused unless its fencing token is the job's current one and the job is running:
-- a worker that was paused or cut off past its lease never overwrites what its successor recorded, and a
-- final outcome never changes (only a new run, with a new token, follows it).
local function refused(job_key, token)
  local h = redis.call('HMGET', job_key, F.fence, F.state)
  if h[1] == token and h[2] == S.running then return nil end
  return {0, h[1] or '', h[2] or ''}
end
