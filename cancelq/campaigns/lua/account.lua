-- One intake batch: record each row, count each job once (resumed batches and repeated orders included).
-- KEYS: the campaign hash, its rows (line -> job id or invalid row), its states (job id -> counted state), then
-- the job key of each row the intake did not create, in row order.
-- ARGV: campaign id, the batch's last line, n, then n "line job_id created state", then
-- (line, JSON) per invalid row. Returns the job ids to send, space-separated.
local n, i, k, send, add = tonumber(ARGV[3]), 4, 4, {}, {}
local function count(name) add[name] = (add[name] or 0) + 1 end
for _ = 1, n do
  local line, job, created, state = string.match(ARGV[i], '^(%S+) (%S+) (%S+) (%S+)$')
  i = i + 1
  local job_key
  if created ~= '1' then
    job_key = KEYS[k]
    k = k + 1
  end
  if redis.call('HSETNX', KEYS[2], line, job) == 1 then
    if redis.call('HEXISTS', KEYS[3], job) == 1 then
      redis.call('HSET', KEYS[2], line, '=' .. job)
      count('duplicates')
    else
      local ours = created == '1'
      if not ours then
        local ok, decoded = pcall(cjson.decode, redis.call('HGET', job_key, 'job') or '')
        ours = ok and type(decoded) == 'table' and decoded['campaign_id'] == ARGV[1]
        state = redis.call('HGET', job_key, 'state') or state
      end
      if ours then
        redis.call('HSET', KEYS[3], job, state)
        count('total')
        count(state)
        if FINAL[state] then count('done') end
        if state == 'queued' then send[#send + 1] = job end
      else
        redis.call('HSET', KEYS[2], line, '~' .. job)
        count('duplicates')
      end
    end
  elseif redis.call('HGET', KEYS[3], job) == 'queued' then
    send[#send + 1] = job
  end
end
while i < #ARGV do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then count('invalid') end
  i = i + 2
end
for name, k in pairs(add) do redis.call('HINCRBY', KEYS[1], name, k) end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'lines_done') or '0') then
  redis.call('HSET', KEYS[1], 'lines_done', ARGV[2])
end
return table.concat(send, ' ')
