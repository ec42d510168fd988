-- One job per idempotency key. A forced intake of a finished job starts a new run: its state and steps
-- start again, its events and the earlier runs' outcomes (``history``) stay, and the next begin takes a
-- new fencing token. Each new job gets its safety-net timer on the delayed set; ``timers`` collects them
-- so that a batch adds them all in one ZADD (``add_timers``).
local timers = {}

local function add_timers(delayed)
  for i = 1, #timers, 2000 do
    redis.call('ZADD', delayed, unpack(timers, i, math.min(i + 1999, #timers)))
  end
  timers = {}
end

local function fresh_job(idem_key, job_key, delayed, job_id, job, now, safety_net, ttl)
  redis.call('HSET', job_key, F.job_id, job_id, F.state, S.queued, F.job, job, F.steps, '{}', F.inflight, '',
             F.attempts, 0, F.deliveries, 0, F.runs, 1, F.created_at, now, F.updated_at, now, F.events, '[]')
  timers[#timers + 1] = tonumber(now) + tonumber(safety_net)
  timers[#timers + 1] = job_id
  return {job_id, 1, S.queued}
end

local function new_run(jk, idem_key, delayed, existing, job, now, safety_net, ttl)
  local was = redis.call('HMGET', jk, F.state, F.finished_at, F.attribution, F.dead_kind, F.runs, F.history)
  local ok, history = pcall(cjson.decode, was[6] or '[]')
  if not ok or type(history) ~= 'table' then history = {} end
  history[#history + 1] = {run = tonumber(was[5] or '1'), state = was[1], finished_at = tonumber(was[2] or ''),
                           attribution = was[3] or '', dead_kind = was[4] or ''}
  redis.call('HSET', jk, F.state, S.queued, F.job, job, F.steps, '{}', F.inflight, '', F.attempts, 0,
             F.deliveries, 0, F.finished_at, '', F.due_at, '', F.updated_at, now, F.dead_kind, '',
             F.lease_until, '', F.attribution, '', F.history, cjson.encode(history))
  redis.call('HINCRBY', jk, F.runs, 1)
  redis.call('PERSIST', jk)
  redis.call('EXPIRE', idem_key, ttl)
  redis.call('ZADD', delayed, tonumber(now) + tonumber(safety_net), existing)
  return {existing, 1, S.queued}
end

-- ``existing_key`` is the job key of ``hint``, the job id the caller believes the idempotency key holds (every
-- key comes in KEYS): when the key holds another id, nothing is written and {id, -1, ''} asks the caller to
-- call again with that job's key.
local function intake(idem_key, job_key, delayed, job_id, job, now, force, safety_net, existing_key, hint, ttl)
  if redis.call('SET', idem_key, job_id, 'NX', 'EX', ttl) then
    return fresh_job(idem_key, job_key, delayed, job_id, job, now, safety_net, ttl)
  end
  local existing = redis.call('GET', idem_key)
  if existing ~= hint then return {existing, -1, ''} end
  local state = redis.call('HGET', existing_key, F.state)
  if not state then
    redis.call('SET', idem_key, job_id, 'EX', ttl)
    return fresh_job(idem_key, job_key, delayed, job_id, job, now, safety_net, ttl)
  end
  if force ~= '1' or not FINAL[state] then return {existing, 0, state} end
  return new_run(existing_key, idem_key, delayed, existing, job, now, safety_net, ttl)
end
