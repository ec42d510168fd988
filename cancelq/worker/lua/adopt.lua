-- Move an older version's pauses into the gate hash and its lease index onto the delayed set (earlier timer wins).
local moved = 0
local pauses = redis.call('HGETALL', KEYS[1])
for i = 1, #pauses, 2 do
  redis.call('HSETNX', KEYS[2], 'pause:' .. pauses[i], pauses[i + 1])
  moved = moved + 1
end
local leases = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #leases, 2 do
  redis.call('ZADD', KEYS[4], 'LT', leases[i + 1], leases[i])
  moved = moved + 1
end
redis.call('DEL', KEYS[1], KEYS[3])
return moved
