-- Index dead letters written before the indexes existed: the entries ranked ARGV[1]..ARGV[2] in keys.DLQ.
-- KEYS: DLQ, search set, set of index keys; ARGV: first rank, last rank, entry key prefix, index key prefix.
-- Returns {entries indexed, entries ranked (0: past the end)}. Members are grouped per index key: one ZADD
-- per key and batch.
local ranked = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local by_key, search, done = {}, {}, 0
local function text(v) return v ~= nil and v ~= cjson.null and v ~= '' end
local function add(key, score, member)
  local members = by_key[key]
  if not members then members = {}; by_key[key] = members end
  members[#members + 1] = score
  members[#members + 1] = member
end
for i = 1, #ranked, 2 do
  local job_id, at = ranked[i], ranked[i + 1]
  local raw = redis.call('GET', ARGV[3] .. job_id)
  if raw then
    local entry = cjson.decode(raw)
    local job = type(entry.job) == 'table' and entry.job or {}
    local err = type(entry.error) == 'table' and entry.error or {}
    local values = {kind = entry.kind, platform = job.platform, shop = job.shop, code = err.code,
                    campaign = job.campaign_id}
    for _, name in ipairs({'kind', 'platform', 'shop', 'code', 'campaign'}) do
      if text(values[name]) then add(ARGV[4] .. name .. ':' .. tostring(values[name]), at, job_id) end
    end
    if text(job.order_id) then search[#search + 1] = 0; search[#search + 1] = 'o:' .. tostring(job.order_id) .. '\0' .. job_id end
    if text(job.client_ref) then search[#search + 1] = 0; search[#search + 1] = 'r:' .. tostring(job.client_ref) .. '\0' .. job_id end
    done = done + 1
  end
end
local names = {}
for key, members in pairs(by_key) do
  redis.call('ZADD', key, unpack(members))
  names[#names + 1] = key
end
if #names > 0 then redis.call('SADD', KEYS[3], unpack(names)) end
if #search > 0 then redis.call('ZADD', KEYS[2], unpack(search)) end
return {done, #ranked / 2}
