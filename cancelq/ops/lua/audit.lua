-- Append an operator's action to the audit stream and its console.action event to the outbox, in one script,
-- so neither exists without the other; the event names the audit entry.
-- KEYS: audit stream, event stream; ARGV: the event's type, version, data JSON, then the audit entry's fields.
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
local data = cjson.decode(ARGV[3])
data.audit_id = id
redis.call('XADD', KEYS[2], '*', 'type', ARGV[1], 'v', ARGV[2], 'data', cjson.encode(data))
return id
