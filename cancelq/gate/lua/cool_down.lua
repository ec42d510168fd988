local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 + tonumber(ARGV[2])
if until_ > tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') then redis.call('HSET', KEYS[1], ARGV[1], until_) end
