-- Write ARGV[1] dead letters as a store written before its indexes existed (the entry and keys.DLQ only),
-- spread over platforms, shops, codes, kinds and campaigns; ARGV[2]: the newest entry's time (ms).
-- KEYS: the DLQ zset; ARGV[3]: the entries' key prefix.
local n, now, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local platforms = {'shopee', 'lazada', 'shopline', 'shoplazza'}
local codes = {'error_server', 'ApiCallLimit', 'error_param', 'ORDER_SHIPPED', 'E500'}
local kinds = {'exhausted', 'permanent', 'poison'}
for i = 1, n do
  local job_id = string.format('big%017d', i)
  local at = now - (n - i) * 10
  local entry = {
    job_id = job_id, kind = kinds[(i % 3) + 1], attempts = i % 5,
    job = {platform = platforms[(i % 4) + 1], shop = 'shop-' .. (i % 10), order_id = 'ORD-' .. i,
           reason = 'OUT_OF_STOCK', client_ref = 'ref-' .. i, campaign_id = (i % 100 == 0) and 'camp-big' or nil},
    error = {error_class = 'TransientError', code = codes[(i % 5) + 1], message = 'System error.',
             request_id = 'req-' .. i, http_status = 500},
    steps = {}, events = {}, first_failure_at = at, last_failure_at = at,
  }
  redis.call('SET', prefix .. job_id, cjson.encode(entry), 'PX', 86400000)
  redis.call('ZADD', KEYS[1], at, job_id)
end
return n
