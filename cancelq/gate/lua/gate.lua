-- The gate in front of one platform call (see cancelq/gate/limits.py for the argument layout); after the
-- job scripts' preamble and cancelq/jobs/lua/lease.lua.
local RESERVATION_EARLY_MS, RESERVATION_GRACE_MS = 5, 2000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n_limits, n_cool, n_circ = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local job, probe_ms = ARGV[4], tonumber(ARGV[5])
local at = 6 + 2 * n_limits
local n_pauses, step, begin_job = tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2]
local client_now, lease_ms, safety_net_ms = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
local fence, budget_max, budget_ms, approve = ARGV[at + 6], tonumber(ARGV[at + 7]), tonumber(ARGV[at + 8]), ARGV[at + 9]
local res_at, reserve, res_mask = tonumber(ARGV[at + 10]), ARGV[at + 11] == '1', ARGV[at + 12]
local f0 = at + 13
local lease, rec = {}, {}

local function begin_fresh()
  local flat_h = redis.call('HGETALL', KEYS[2])
  local h = {}
  for i = 1, #flat_h, 2 do h[flat_h[i]] = flat_h[i + 1] end
  if h[F.state] ~= S.queued or h[F.job] ~= begin_job or (h[F.deliveries] or '0') ~= '0'
     or (h[F.steps] or '{}') ~= '{}' or (h[F.inflight] or '') ~= '' then
    return false
  end
  lease = take_lease(h, KEYS[3], job, client_now, lease_ms, safety_net_ms, true)
  rec = h
  return true
end

local function still_held()
  local h = redis.call('HMGET', KEYS[2], F.fence, F.state, F.lease_until)
  if h[1] ~= fence or h[2] ~= S.running then return false, h[1] or '' end
  if tonumber(h[3] or '0') - client_now < lease_ms * 2 / 3 then
    lease = {F.lease_until, tostring(client_now + lease_ms)}
  end
  return true
end

local function held(wait_ms, why, dirty, scope, value, slot, mask)
  if #lease > 0 then redis.call('HSET', KEYS[2], unpack(lease)) end
  return {0, wait_ms, why, dirty, scope or '', value or '', flat(rec), slot or 0, mask or ''}
end

if begin_job ~= '' then
  if not begin_fresh() then return {'begin'} end
elseif fence ~= '' then
  local ok, current = still_held()
  if not ok then return {'fenced', current} end
end

local v = #ARGV >= f0 and redis.call('HMGET', KEYS[1], unpack(ARGV, f0)) or {}
local circ_at, pause_at = n_limits + n_cool, n_limits + n_cool + 2 * n_circ
-- A call stopped before its reserved slot by anything but its limit (a pause, an abort, a circuit, a cooldown)
-- gives the slot back while it is still ahead, so that an aborted campaign's reservations free their shop.
local function give_back()
  if res_at <= now then return end
  local back = {}
  for i = 1, n_limits do
    local interval, tat = tonumber(ARGV[4 + 2 * i]), tonumber(v[i] or '0')
    if string.sub(res_mask, i, i) == '1' and tat - interval >= now then
      back[#back + 1] = ARGV[f0 + i - 1]
      back[#back + 1] = tat - interval
    end
  end
  if #back > 0 then redis.call('HSET', KEYS[1], unpack(back)) end
end
for i = 1, n_pauses do
  if v[pause_at + i] then
    give_back()
    return held(0, 'paused', 0, string.sub(ARGV[f0 + pause_at + i - 1], 7), v[pause_at + i])
  end
end
local wait, why, dirty = 0, '', 0
local probes = {}
for i = 1, n_circ do
  if v[circ_at + 2 * i] then dirty = 1 end
  local c = v[circ_at + 2 * i - 1]
  if c then
    local open_until, open_ms, probe, probe_until = string.match(c, '^(%S+) (%S+) (%S+) (%S+)$')
    open_until, probe_until = tonumber(open_until), tonumber(probe_until)
    if open_until > now then
      if open_until - now > wait then wait, why = open_until - now, 'circuit_open' end
    else
      if probe ~= '-' and probe ~= job and probe_until > now and probe_until - now > wait then
        wait, why = probe_until - now, 'circuit_probe'
      end
      probes[#probes + 1] = ARGV[f0 + circ_at + 2 * i - 2]
      probes[#probes + 1] = open_until .. ' ' .. open_ms .. ' ' .. job .. ' ' .. (now + probe_ms)
    end
  end
end
for i = 1, n_cool do
  local until_ = tonumber(v[n_limits + i] or '0')
  if until_ - now > wait then wait, why = until_ - now, 'cooldown' end
end
if wait > 0 then
  give_back()
  return held(math.ceil(wait), why, dirty)
end
-- A call that carries a reservation (RES_MASK: '1' for each limit it reserved, in order) goes in its
-- reserved slot RES_AT without taking another; a call held by a limit reserves the next slot of that
-- limit now (its theoretical arrival time moves on), so it is held once, in arrival order.
local set, mask, denied = {}, {}, {}
for i = 1, n_limits do
  local interval, burst = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  if string.sub(res_mask, i, i) == '1' and now <= res_at + RESERVATION_GRACE_MS + interval * burst then
    mask[i] = '1'
    if res_at - now > RESERVATION_EARLY_MS and res_at - now > wait then wait, why = res_at - now, 'rate_limit' end
  else
    mask[i] = '0'
    local tat = math.max(tonumber(v[i] or '0'), now) + interval
    local over = tat - now - interval * burst
    if over > 1e-6 then
      if over > wait then wait, why = over, 'rate_limit' end
      denied[#denied + 1] = ARGV[f0 + i - 1]
      denied[#denied + 1] = tat
      mask[i] = '1'
    end
    set[#set + 1] = ARGV[f0 + i - 1]
    set[#set + 1] = tat
  end
end
if wait > 0 then
  if not reserve then return held(math.ceil(wait), why, dirty) end
  if #denied > 0 then redis.call('HSET', KEYS[1], unpack(denied)) end
  return held(math.ceil(wait), why, dirty, '', '', math.floor(now + wait), table.concat(mask))
end
-- The shop's cancellation budget (KEYS[4], job -> when let go): taken here, with the slot, or the write waits
-- for the oldest cancel to leave the window (an operator's approval lets it pass). A job counts once.
if budget_max >= 0 and step ~= '' and not redis.call('ZSCORE', KEYS[4], job) then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - budget_ms)
  if redis.call('ZCARD', KEYS[4]) >= budget_max then
    if tonumber(redis.call('HGET', KEYS[1], approve) or '0') <= 0 then
      local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
      return held(math.max(1, math.ceil((tonumber(oldest[2]) or now) + budget_ms - now)), 'budget', dirty)
    end
    redis.call('HINCRBY', KEYS[1], approve, -1)
  end
  redis.call('ZADD', KEYS[4], now, job)
  redis.call('PEXPIRE', KEYS[4], math.ceil(budget_ms))
end
for i = 1, #probes do set[#set + 1] = probes[i] end
if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
if step ~= '' then
  local n = #lease
  lease[n + 1], lease[n + 2], lease[n + 3], lease[n + 4] = F.inflight, step, F.step, step
  lease[n + 5], lease[n + 6] = F.inflight_at, tostring(math.floor(now))
  if begin_job ~= '' then rec[F.inflight], rec[F.step], rec[F.inflight_at] = step, step, lease[n + 6] end
end
if #lease > 0 then redis.call('HSET', KEYS[2], unpack(lease)) end
return {1, 0, #probes > 0 and 'probe' or '', dirty, '', '', flat(rec), 0, ''}
