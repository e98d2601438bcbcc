// limits/internal/scripts.h — the Lua scripts that make Redis counters atomic across replicas.
// They implement counters.h's semantics a second time (LocalCounters is the C++ one); the
// limits tests run both against the same cases. Time comes from Redis (TIME), never from the
// replicas, so skewed clocks cannot stretch a window.
#pragma once

namespace ap::limits::internal {

// Admits a batch of requests (those one event loop gathered in one turn), each all-or-nothing,
// in order. KEYS: every check's counter, admission after admission. ARGV[1]: lease ttl ms;
// ARGV[2]: number of admissions; then per admission: its check count n, its lease id, and n
// times (kind, limit, amount, ttl_s). Returns, per admission, {refused index (0: admitted),
// level_1, …, level_n} flattened.
inline constexpr const char* kAdmitScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A token bucket kept as "level:at_ms" (one GET, one SET with its expiry), refilled to now.
local function bucket(key, limit)
  local s = redis.call('GET', key)
  if not s then return limit end
  local sep = string.find(s, ':', 1, true)
  local v, at = tonumber(string.sub(s, 1, sep - 1)), tonumber(string.sub(s, sep + 1))
  if now > at then v = math.min(limit, v + (now - at) * limit / 60000) end
  return v
end
local lease_ttl = tonumber(ARGV[1])
local out = {}
local k, a = 0, 3
for _ = 1, tonumber(ARGV[2]) do
  local n, lease = tonumber(ARGV[a]), ARGV[a + 1]
  a = a + 2
  local level, refused = {}, 0
  for i = 1, n do
    local key, b = KEYS[k + i], a + (i - 1) * 4
    local kind, limit, amount = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local ok
    if kind == 'r' or kind == 't' then
      level[i] = bucket(key, limit)
      ok = level[i] >= amount
    elseif kind == 'p' then
      local c = redis.call('ZCOUNT', key, now, '+inf')  -- unexpired leases (expired ones are swept on settle)
      level[i] = limit - c
      ok = c + 1 <= limit
    else
      local s = tonumber(redis.call('GET', key) or '0')
      level[i] = limit - s
      ok = s < limit and (amount <= 0 or s + amount <= limit)
    end
    if not ok and refused == 0 then refused = i end
  end
  if refused == 0 then
    for i = 1, n do
      local key, b = KEYS[k + i], a + (i - 1) * 4
      local kind, amount, ttl = ARGV[b], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
      if kind == 'r' or kind == 't' then
        level[i] = level[i] - amount
        redis.call('SET', key, tostring(level[i]) .. ':' .. now, 'PX', 120000)
      elseif kind == 'p' then
        redis.call('ZADD', key, now + lease_ttl, lease)
        redis.call('PEXPIRE', key, lease_ttl)
        level[i] = level[i] - 1
      else
        -- the window's expiry is set when the request settles (batched), not per admission
        if amount > 0 then redis.call('INCRBYFLOAT', key, tostring(amount)) end
        level[i] = level[i] - amount
      end
    end
  end
  out[#out + 1] = refused
  for i = 1, n do out[#out + 1] = tostring(level[i]) end
  k, a = k + n, a + n * 4
end
return out
)lua";

// KEYS: one counter per settlement. ARGV per settlement: kind, limit, delta, lease, soft_limit,
// actual (the request's real cost: spend crosses the soft limit when it carried it across),
// ttl_s (spend: how long the window's counters live).
// Returns the 1-based indexes of spend counters that crossed their soft limit.
inline constexpr const char* kSettleScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A token bucket kept as "level:at_ms" (one GET, one SET with its expiry), refilled to now.
local function bucket(key, limit)
  local s = redis.call('GET', key)
  if not s then return limit end
  local sep = string.find(s, ':', 1, true)
  local v, at = tonumber(string.sub(s, 1, sep - 1)), tonumber(string.sub(s, sep + 1))
  if now > at then v = math.min(limit, v + (now - at) * limit / 60000) end
  return v
end
local crossed = {}
for i = 1, #KEYS do
  local b = (i - 1) * 7
  local kind, limit, delta, lease, soft = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), ARGV[b + 4], tonumber(ARGV[b + 5])
  local actual = tonumber(ARGV[b + 6])
  if kind == 'r' or kind == 't' then
    local v = math.min(limit, bucket(KEYS[i], limit) - delta)
    redis.call('SET', KEYS[i], tostring(v) .. ':' .. now, 'PX', 120000)
  elseif kind == 'p' then
    redis.call('ZREM', KEYS[i], lease)
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  else
    -- KEYS[i] holds spend plus in-flight reservations (what admission checks); KEYS[i]..':done'
    -- holds what was actually spent (what alerts and the admin API read).
    redis.call('INCRBYFLOAT', KEYS[i], tostring(delta))
    local ttl = tonumber(ARGV[b + 7])  -- the rest of the budget window, and a day
    redis.call('EXPIRE', KEYS[i], ttl)
    local done_key = KEYS[i] .. ':done'
    local done = tonumber(redis.call('INCRBYFLOAT', done_key, tostring(actual)))
    redis.call('EXPIRE', done_key, ttl)
    if soft >= 0 and done - actual < soft and done >= soft then crossed[#crossed + 1] = i end
  end
end
return crossed
)lua";

}  // namespace ap::limits::internal
