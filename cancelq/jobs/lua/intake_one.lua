-- KEYS: idempotency key, new job, delayed, the hinted job (the new job's key without a hint);
-- ARGV: job id, job JSON, now, force, safety net ms, ttl, hint.
local r = intake(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], KEYS[4], ARGV[7], ARGV[6])
add_timers(KEYS[3])
return r
