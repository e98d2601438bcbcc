// limits/internal/scripts.h — the Lua scripts that make Redis counters atomic across replicas.
// They implement counters.h's semantics a second time (LocalCounters is the C++ one); the
// limits tests run both against the same cases. Time comes from Redis (TIME), never from the
// replicas, so skewed clocks cannot stretch a window.
#pragma once

namespace ap::limits::internal {

// KEYS: one counter per check. ARGV[1]: lease id; ARGV[2]: lease ttl ms; then per check
// kind, limit, amount, ttl_s. Returns {refused index (0: admitted), now_ms, level_1, …}.
inline constexpr const char* kAdmitScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, lease_ttl = ARGV[1], tonumber(ARGV[2])
local level, refused = {}, 0
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 4
  local kind, limit, amount = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local ok
  if kind == 'r' or kind == 't' then
    local h = redis.call('HMGET', KEYS[i], 'v', 't')
    local v, at = tonumber(h[1]), tonumber(h[2])
    if v == nil then v, at = limit, now end
    if now > at then v = math.min(limit, v + (now - at) * limit / 60000) end
    level[i] = v
    ok = v >= amount
  elseif kind == 'p' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local n = redis.call('ZCARD', KEYS[i])
    level[i] = limit - n
    ok = n + 1 <= limit
  else
    local s = tonumber(redis.call('GET', KEYS[i]) or '0')
    level[i] = limit - s
    ok = s < limit and (amount <= 0 or s + amount <= limit)
  end
  if not ok and refused == 0 then refused = i end
end
if refused == 0 then
  for i = 1, #KEYS do
    local b = 2 + (i - 1) * 4
    local kind, amount, ttl = ARGV[b + 1], tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    if kind == 'r' or kind == 't' then
      redis.call('HSET', KEYS[i], 'v', tostring(level[i] - amount), 't', now)
      redis.call('PEXPIRE', KEYS[i], 120000)
      level[i] = level[i] - amount
    elseif kind == 'p' then
      redis.call('ZADD', KEYS[i], now + lease_ttl, lease)
      redis.call('PEXPIRE', KEYS[i], lease_ttl)
      level[i] = level[i] - 1
    else
      redis.call('INCRBYFLOAT', KEYS[i], tostring(amount))
      redis.call('EXPIRE', KEYS[i], ttl)
      level[i] = level[i] - amount
    end
  end
end
local out = {refused, now}
for i = 1, #KEYS do out[i + 2] = tostring(level[i]) end
return out
)lua";

// KEYS: one counter per settlement. ARGV per settlement: kind, limit, delta, lease, soft_limit,
// actual (the request's real cost: spend crosses the soft limit when it carried it across).
// Returns the 1-based indexes of spend counters that crossed their soft limit.
inline constexpr const char* kSettleScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local crossed = {}
for i = 1, #KEYS do
  local b = (i - 1) * 6
  local kind, limit, delta, lease, soft = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), ARGV[b + 4], tonumber(ARGV[b + 5])
  local actual = tonumber(ARGV[b + 6])
  if kind == 'r' or kind == 't' then
    local h = redis.call('HMGET', KEYS[i], 'v', 't')
    local v, at = tonumber(h[1]), tonumber(h[2])
    if v == nil then v, at = limit, now end
    if now > at then v = math.min(limit, v + (now - at) * limit / 60000) end
    v = math.min(limit, v - delta)
    redis.call('HSET', KEYS[i], 'v', tostring(v), 't', math.max(now, at))
    redis.call('PEXPIRE', KEYS[i], 120000)
  elseif kind == 'p' then
    redis.call('ZREM', KEYS[i], lease)
  else
    -- KEYS[i] holds spend plus in-flight reservations (what admission checks); KEYS[i]..':done'
    -- holds what was actually spent (what alerts and the admin API read).
    redis.call('INCRBYFLOAT', KEYS[i], tostring(delta))
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 0 then ttl = 400 * 86400; redis.call('EXPIRE', KEYS[i], ttl) end
    local done_key = KEYS[i] .. ':done'
    local done = tonumber(redis.call('INCRBYFLOAT', done_key, tostring(actual)))
    redis.call('EXPIRE', done_key, ttl)
    if soft >= 0 and done - actual < soft and done >= soft then crossed[#crossed + 1] = i end
  end
end
return crossed
)lua";

}  // namespace ap::limits::internal
