-- complete(campaign hash, now, ttl, other keys, events stream, campaign id): mark the campaign finished once
-- its file is read and every job it sent is final, exactly once per round (HSETNX), append campaign.finished
-- with its counts to the events, and let its keys expire. Returns 2 when this call finished it.
local function complete(campaign, now, ttl, others, events, campaign_id)
  local c = redis.call('HMGET', campaign, 'intake_done_at', 'done', 'total')
  if c[1] and c[1] ~= '' and tonumber(c[2] or '0') >= tonumber(c[3] or '0') then
    if redis.call('HSETNX', campaign, 'finished_at', now) == 1 then
      local h = redis.call('HGETALL', campaign)
      local fields, data = {}, {campaign_id = campaign_id}
      for i = 1, #h, 2 do fields[h[i]] = h[i + 1] end
      for _, name in ipairs(COUNTERS) do data[name] = tonumber(fields[name] or '0') end
      data['round'] = tonumber(fields['round'] or '1')
      data['dry_run'] = fields['dry_run'] == '1'
      data['status'] = fields['status'] == 'aborted' and 'aborted' or 'finished'
      data['source'] = fields['source'] or ''
      redis.call('XADD', events, '*', 'type', 'campaign.finished', 'v', EVENTS_VERSION, 'data', cjson.encode(data))
      redis.call('EXPIRE', campaign, ttl)
      for _, k in ipairs(others) do redis.call('EXPIRE', k, ttl) end
      return 2
    end
  end
  return 1
end
