-- Announce once that an order was cancelled outside cancelq (no open job of ours).
-- KEYS: elsewhere marker, events; ARGV: marker px, event field/value args. Answers 1, or 0 when announced before.
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
