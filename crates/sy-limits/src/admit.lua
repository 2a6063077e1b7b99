-- Admits one request against every limited rule at once, or takes nothing (sy-limits, remote.rs).
--
-- KEYS[2i-1]  rule i's buckets, a hash: r, rt = requests level and its time; t, tt = tokens level and its time
-- KEYS[2i]    rule i's leases, a sorted set: lease name scored by its expiry (ms)
-- ARGV[1] lease name, ARGV[2] lease TTL (ms), ARGV[3] bucket idle TTL (ms),
-- then per rule i from 4 + 4(i-1): rpm, tpm, tokens charged, max concurrent (-1: no such limit).
--
-- Levels count 1/60000 of a token, so a bucket refills by exactly `limit` units per millisecond;
-- the arithmetic is bucket.rs's, in doubles that stay exact below 2^53.
--
-- Returns {admitted (1 or 0), refusing rule (1-based, 0 if admitted), refusing resource (1 requests,
-- 2 tokens, 3 concurrency)}, then per rule: requests level, tokens level, live leases; after this
-- request when admitted, before it when refused.

-- Redis before 5 replicates scripts verbatim, which TIME followed by writes would break.
if redis.replicate_commands then
  redis.replicate_commands()
end

local UNITS = 60000
local FULL_SWING_MS = 120000
local time = redis.call('TIME')
-- One clock for every node: the server's.
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = ARGV[1]
local lease_ttl = tonumber(ARGV[2])
local idle_ttl = tonumber(ARGV[3])
local n = #KEYS / 2

local function refill(level, at, limit)
  local cap = limit * UNITS
  if not level or not at then
    return cap, now
  end
  level = tonumber(level)
  at = tonumber(at)
  if level > cap then level = cap end
  if level < -cap then level = -cap end
  -- A clock that went back (a failover) refills nothing until it catches up.
  if now > at then
    local elapsed = math.min(now - at, FULL_SWING_MS)
    level = math.min(cap, level + elapsed * limit)
    at = now
  end
  return level, at
end

local rules = {}
local verdict = {1, 0, 0}
for i = 1, n do
  local base = 4 + (i - 1) * 4
  local r = {
    rpm = tonumber(ARGV[base]),
    tpm = tonumber(ARGV[base + 1]),
    cost = tonumber(ARGV[base + 2]) * UNITS,
    max = tonumber(ARGV[base + 3]),
    requests = 0, requests_at = now, tokens = 0, tokens_at = now, leases = 0,
  }
  if r.rpm >= 0 or r.tpm >= 0 then
    local f = redis.call('HMGET', KEYS[2 * i - 1], 'r', 'rt', 't', 'tt')
    if r.rpm >= 0 then r.requests, r.requests_at = refill(f[1], f[2], r.rpm) end
    if r.tpm >= 0 then r.tokens, r.tokens_at = refill(f[3], f[4], r.tpm) end
  end
  if r.max >= 0 then
    -- Leases of a node that crashed, or lost their release, end by themselves.
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now)
    r.leases = redis.call('ZCARD', KEYS[2 * i])
  end
  if verdict[1] == 1 then
    -- The same conditions as decide.rs, in the same order.
    local refused = 0
    if r.rpm >= 0 and (r.rpm == 0 or r.requests < UNITS) then
      refused = 1
    elseif r.tpm >= 0 and (r.tpm == 0 or r.tokens < r.cost) then
      refused = 2
    elseif r.max >= 0 and r.leases >= r.max then
      refused = 3
    end
    if refused > 0 then verdict = {0, i, refused} end
  end
  rules[i] = r
end

local admitted = verdict[1] == 1
local out = verdict
for i = 1, n do
  local r = rules[i]
  if admitted then
    local bucket = KEYS[2 * i - 1]
    if r.rpm >= 0 then
      r.requests = r.requests - UNITS
      redis.call('HSET', bucket, 'r', r.requests, 'rt', r.requests_at)
    end
    if r.tpm >= 0 then
      r.tokens = r.tokens - r.cost
      redis.call('HSET', bucket, 't', r.tokens, 'tt', r.tokens_at)
    end
    if r.rpm >= 0 or r.tpm >= 0 then
      -- Idle long enough, a bucket is full again: the same as no key at all.
      redis.call('PEXPIRE', bucket, idle_ttl)
    end
    if r.max >= 0 then
      redis.call('ZADD', KEYS[2 * i], now + lease_ttl, lease)
      redis.call('PEXPIRE', KEYS[2 * i], lease_ttl)
      r.leases = r.leases + 1
    end
  end
  out[#out + 1] = r.requests
  out[#out + 1] = r.tokens
  out[#out + 1] = r.leases
end
return out
