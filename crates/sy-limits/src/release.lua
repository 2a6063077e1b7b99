-- Ends a grant (sy-limits, remote.rs): its concurrency leases, and its token correction.
--
-- KEYS[2i-1]  rule i's buckets (see admit.lua), KEYS[2i] rule i's leases
-- ARGV[1] lease name, ARGV[2] bucket idle TTL (ms),
-- then per rule i from 3 + 3(i-1): tpm (-1: no correction), correction in units (positive gives
-- back, negative takes more), lease held (1 or 0).

if redis.replicate_commands then
  redis.replicate_commands()
end

local UNITS = 60000
local FULL_SWING_MS = 120000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = ARGV[1]
local idle_ttl = tonumber(ARGV[2])
local n = #KEYS / 2

for i = 1, n do
  local base = 3 + (i - 1) * 3
  local tpm = tonumber(ARGV[base])
  local delta = tonumber(ARGV[base + 1])
  local leased = tonumber(ARGV[base + 2])
  if leased == 1 then
    redis.call('ZREM', KEYS[2 * i], lease)
    if redis.call('ZCARD', KEYS[2 * i]) == 0 then
      redis.call('DEL', KEYS[2 * i])
    end
  end
  if tpm >= 0 and delta ~= 0 then
    local bucket = KEYS[2 * i - 1]
    local f = redis.call('HMGET', bucket, 't', 'tt')
    -- A missing bucket expired full: giving back to it changes nothing, a debt does.
    if (f[1] and f[2]) or delta < 0 then
      local cap = tpm * UNITS
      local level, at = cap, now
      if f[1] and f[2] then
        level = math.max(-cap, math.min(cap, tonumber(f[1])))
        at = tonumber(f[2])
        if now > at then
          level = math.min(cap, level + math.min(now - at, FULL_SWING_MS) * tpm)
          at = now
        end
      end
      level = math.max(-cap, math.min(cap, level + delta))
      redis.call('HSET', bucket, 't', level, 'tt', at)
      redis.call('PEXPIRE', bucket, idle_ttl)
    end
  end
end
return 1
