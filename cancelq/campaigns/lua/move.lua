-- A job's move from the state it was counted in; returns 2 when that finished the campaign, 1 after a move,
-- 0 when there was nothing to move. KEYS: the campaign's states, its hash, its rows, the events, the job.
-- ARGV: job id, new state, now, ttl, campaign id. An empty state means "the state the ledger holds now"
-- (after a replay, which a worker may already have run).
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local new = ARGV[2]
if new == '' then new = redis.call('HGET', KEYS[5], 'state') or old end
if old == new then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], new)
redis.call('HINCRBY', KEYS[2], old, -1)
redis.call('HINCRBY', KEYS[2], new, 1)
if FINAL[old] and not FINAL[new] then
  redis.call('HINCRBY', KEYS[2], 'done', -1)
  redis.call('HDEL', KEYS[2], 'finished_at')
  for i = 1, 3 do redis.call('PERSIST', KEYS[i]) end
  return 1
end
if FINAL[new] and not FINAL[old] then
  redis.call('HINCRBY', KEYS[2], 'done', 1)
  return complete(KEYS[2], ARGV[3], ARGV[4], {KEYS[1], KEYS[3]}, KEYS[4], ARGV[5])
end
return 1
