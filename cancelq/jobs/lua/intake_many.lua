local out = {}
for i = 5, #ARGV do
  local a = string.find(ARGV[i], '\n', 1, true)
  local b = string.find(ARGV[i], '\n', a + 1, true)
  local job_id = string.sub(ARGV[i], a + 1, b - 1)
  local r = intake(string.sub(ARGV[i], 1, a - 1), ARGV[2] .. job_id, KEYS[1], job_id, string.sub(ARGV[i], b + 1),
                   ARGV[1], '0', ARGV[3], ARGV[2], ARGV[4])
  out[#out + 1] = r[1] .. ' ' .. r[2] .. ' ' .. r[3]
end
add_timers(KEYS[1])
return table.concat(out, '\n')
