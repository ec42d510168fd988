-- The campaign's file is read: mark it, and finish the campaign if every job is final already (returns 2 then).
-- KEYS: the campaign hash, its rows, its states, the events. ARGV: now, ttl, campaign id.
redis.call('HSETNX', KEYS[1], 'intake_done_at', ARGV[1])
return complete(KEYS[1], ARGV[1], ARGV[2], {KEYS[2], KEYS[3]}, KEYS[4], ARGV[3])
