-- Record a delivery's outcome and its event, in one script: an outcome without its event cannot exist.
-- KEYS: job, delayed, events[, index[, dead letter[, search, index keys, indexes...]]];
-- ARGV: token, job id, ttl_s, now, n, n field/value args, m, m event field/value args
--       [, dead letter JSON, its px, the index's cutoff[, s, s search members]].
local no = refused(KEYS[1], ARGV[1])
if no then return no end
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + n))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
local m = tonumber(ARGV[6 + n])
redis.call('XADD', KEYS[3], '*', unpack(ARGV, 7 + n, 6 + n + m))
local rest = 7 + n + m
if KEYS[4] then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2]) end
if KEYS[5] then
  redis.call('SET', KEYS[5], ARGV[rest], 'PX', ARGV[rest + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[rest + 2])
end
-- The dead letter's indexes (the console's paged filters): KEYS[6] the search set (ARGV: s, s members),
-- KEYS[7] the set of index keys, KEYS[8..] the entry's kind, platform, shop[, code][, campaign] indexes.
if KEYS[6] then
  local s = tonumber(ARGV[rest + 3])
  local members = {}
  for i = 1, s do
    members[2 * i - 1] = 0
    members[2 * i] = ARGV[rest + 3 + i]
  end
  if s > 0 then redis.call('ZADD', KEYS[6], unpack(members)) end
  for i = 8, #KEYS do redis.call('ZADD', KEYS[i], ARGV[4], ARGV[2]) end
  redis.call('SADD', KEYS[7], unpack(KEYS, 8))
end
return {1}
