-- Announce a watched job unconfirmed, once: it leaves the watch and joins the unconfirmed list in the write that
-- appends its event. KEYS: watch, unconfirmed, events; ARGV: job id, now, event field/value args.
-- Answers 1, or 0 when it was no longer watched (confirmed, or announced by another worker).
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', unpack(ARGV, 3))
return 1
