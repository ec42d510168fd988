-- KEYS: delayed, then per row its idempotency key, its new job key and, with a hint, the hinted job's key.
-- ARGV: now, safety net ms, ttl, then per row "job id \n hint \n job JSON".
local out, k = {}, 2
for i = 4, #ARGV do
  local a = string.find(ARGV[i], '\n', 1, true)
  local b = string.find(ARGV[i], '\n', a + 1, true)
  local job_id, hint = string.sub(ARGV[i], 1, a - 1), string.sub(ARGV[i], a + 1, b - 1)
  local idem_key, job_key, existing_key = KEYS[k], KEYS[k + 1], KEYS[k + 1]
  k = k + 2
  if hint ~= '' then
    existing_key = KEYS[k]
    k = k + 1
  end
  local r = intake(idem_key, job_key, KEYS[1], job_id, string.sub(ARGV[i], b + 1), ARGV[1], '0', ARGV[2],
                   existing_key, hint, ARGV[3])
  out[#out + 1] = r[1] .. ' ' .. r[2] .. ' ' .. r[3]
end
add_timers(KEYS[1])
return table.concat(out, '\n')
