// limits/internal/scripts.h — the Lua scripts that make Redis counters atomic across replicas.
// They implement counters.h's semantics a second time (LocalCounters is the C++ one); the
// limits tests run both against the same cases. Time comes from Redis (TIME), never from the
// replicas, so skewed clocks cannot stretch a window.
#pragma once

#include <string>

namespace ap::limits::internal {

// Counter layout: every counter of one scope (a key, user or team) is a field of one hash, so an
// admission costs one HMGET and one HSET per scope instead of calls per counter (each redis.call
// costs 1.5–3 µs of Lua). A counter named "ap:team:ml:t" is field "t" of hash "ap:team:ml":
//   r, t        token buckets, "level:at_ms"
//   s@<window>  spend plus in-flight reservations in that budget window; d@<window>: actually spent
// Parallel slots ("…:p") are a sorted set of leases scored by expiry, so a replica that dies
// holding slots cannot keep them for longer than the lease.

// What both scripts start with: Redis's clock in ms, a counter name split into (hash, field),
// and a token bucket ("level:at_ms") refilled to now.
inline constexpr const char* kScriptPrelude = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function split(key)
  local p = string.match(key, '^.*():')
  return string.sub(key, 1, p - 1), string.sub(key, p + 1)
end
local function refill(raw, limit)
  if not raw then return limit end
  local sep = string.find(raw, ':', 1, true)
  local v, at = tonumber(string.sub(raw, 1, sep - 1)), tonumber(string.sub(raw, sep + 1))
  if now > at then v = math.min(limit, v + (now - at) * limit / 60000) end
  return v
end
)lua";

// Admits a batch of requests (those one event loop gathered in one turn), each all-or-nothing,
// in order. KEYS: every check's counter, admission after admission. ARGV[1]: lease ttl ms;
// ARGV[2]: number of admissions; then per admission: its check count n, its lease id, and n
// times (kind, limit, amount, ttl_s). Returns, per admission, {refused index (0: admitted),
// level_1, …, level_n} flattened.
inline const std::string kAdmitScript = std::string(kScriptPrelude) + R"lua(
local lease_ttl = tonumber(ARGV[1])
local out = {}
local k, a = 0, 3
for _ = 1, tonumber(ARGV[2]) do
  local n, lease = tonumber(ARGV[a]), ARGV[a + 1]
  a = a + 2
  local groups, order, field = {}, {}, {}
  for i = 1, n do
    if ARGV[a + (i - 1) * 4] ~= 'p' then
      local h, f = split(KEYS[k + i])
      local g = groups[h]
      if not g then g = {fields = {}, idx = {}}; groups[h] = g; order[#order + 1] = h end
      g.fields[#g.fields + 1] = f
      g.idx[#g.idx + 1] = i
      field[i] = f
    end
  end
  local raw = {}
  for _, h in ipairs(order) do
    local g = groups[h]
    local vals = redis.call('HMGET', h, unpack(g.fields))
    for j, i in ipairs(g.idx) do raw[i] = vals[j] end
  end
  local level, refused = {}, 0
  for i = 1, n do
    local b = a + (i - 1) * 4
    local kind, limit, amount = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    local ok
    if kind == 'r' or kind == 't' then
      level[i] = refill(raw[i], limit)
      ok = level[i] >= amount
    elseif kind == 'p' then
      local c = redis.call('ZCOUNT', KEYS[k + i], now, '+inf')  -- live leases
      level[i] = limit - c
      ok = c + 1 <= limit
    else
      local spent = tonumber(raw[i] or '0')
      level[i] = limit - spent
      ok = spent < limit and (amount <= 0 or spent + amount <= limit)
    end
    if not ok and refused == 0 then refused = i end
  end
  if refused == 0 then
    for _, h in ipairs(order) do
      local g, args, ttl = groups[h], {}, 120
      for _, i in ipairs(g.idx) do
        local b = a + (i - 1) * 4
        local kind, limit, amount = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
        level[i] = level[i] - amount
        args[#args + 1] = field[i]
        if kind == 's' then
          args[#args + 1] = tostring(limit - level[i])
          ttl = math.max(ttl, tonumber(ARGV[b + 3]))
        else
          args[#args + 1] = tostring(level[i]) .. ':' .. now
        end
      end
      redis.call('HSET', h, unpack(args))
      redis.call('EXPIRE', h, ttl)
    end
    for i = 1, n do
      if ARGV[a + (i - 1) * 4] == 'p' then
        redis.call('ZADD', KEYS[k + i], now + lease_ttl, lease)
        redis.call('PEXPIRE', KEYS[k + i], lease_ttl)
        level[i] = level[i] - 1
      end
    end
  end
  out[#out + 1] = refused
  for i = 1, n do out[#out + 1] = tostring(level[i]) end
  k, a = k + n, a + n * 4
end
return out
)lua";

// KEYS: one counter per settlement (merged per counter). ARGV per settlement: kind, limit,
// delta, lease, soft_limit, actual (the request's real cost: spend crosses the soft limit when
// it carried it across), ttl_s (spend: how long the window's counters live).
// Returns the 1-based indexes of spend counters that crossed their soft limit.
inline const std::string kSettleScript = std::string(kScriptPrelude) + R"lua(
local crossed = {}
local groups, order = {}, {}
for i = 1, #KEYS do
  local b = (i - 1) * 7
  local kind = ARGV[b + 1]
  if kind == 'p' then
    redis.call('ZREM', KEYS[i], ARGV[b + 4])
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  else
    local h, f = split(KEYS[i])
    local g = groups[h]
    if not g then g = {idx = {}, fields = {}}; groups[h] = g; order[#order + 1] = h end
    g.idx[#g.idx + 1] = i
    g.fields[#g.fields + 1] = f
    if kind == 's' then g.fields[#g.fields + 1] = 'd' .. string.sub(f, 2) end
  end
end
for _, h in ipairs(order) do
  local g = groups[h]
  local vals = redis.call('HMGET', h, unpack(g.fields))
  local args, ttl, at = {}, 120, 1
  for _, i in ipairs(g.idx) do
    local b = (i - 1) * 7
    local kind, limit, delta = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    local f = g.fields[at]
    if kind == 's' then
      local soft, actual = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
      local spent = tonumber(vals[at] or '0') + delta
      local done = tonumber(vals[at + 1] or '0') + actual
      args[#args + 1] = f
      args[#args + 1] = tostring(spent)
      args[#args + 1] = g.fields[at + 1]
      args[#args + 1] = tostring(done)
      ttl = math.max(ttl, tonumber(ARGV[b + 7]))
      if soft >= 0 and done - actual < soft and done >= soft then crossed[#crossed + 1] = i end
      at = at + 2
    else
      local v = math.min(limit, refill(vals[at], limit) - delta)
      args[#args + 1] = f
      args[#args + 1] = tostring(v) .. ':' .. now
      at = at + 1
    end
  end
  redis.call('HSET', h, unpack(args))
  redis.call('EXPIRE', h, ttl)
end
return crossed
)lua";

}  // namespace ap::limits::internal
