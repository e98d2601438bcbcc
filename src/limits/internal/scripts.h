// limits/internal/scripts.h — the Lua scripts that make Redis counters atomic across replicas.
// They implement counters.h's semantics a second time (LocalCounters is the C++ one); the
// limits tests run both against the same cases. Time comes from Redis (TIME), never from the
// replicas, so skewed clocks cannot stretch a window.
#pragma once

#include <string>

namespace ap::limits::internal {

// Counter layout: every counter of one scope (a key, user or team) is a field of one hash
// ("ap:team:ml:t" is field "t" of hash "ap:team:ml"), so a scope's counters expire together and
// reaping a replica touches few keys:
//   r, t               token buckets, "level:at_ms"
//   p                  parallel slots every replica holds; p#<replica>: that replica's share
//   s@<window>         USD spent in that budget window plus every replica's unspent share;
//                      s@<window>#<replica>: that replica's share; d@<window>: actually spent
// Replicas hold slices of counters (limits/slices.h): grants take from these counters, ticks
// give back. Slots and budget shares are recorded per replica so that a replica that dies holding
// them gives them back: each replica beats in the sorted set ap:replicas (score: until when it
// counts as alive) and lists what it holds in the set ap:held:<replica>; whoever beats next after
// a replica's beat ran out reaps it.

// What both scripts start with: Redis's clock in ms, a counter name split into (hash, field),
// a token bucket ("level:at_ms") refilled to now, and a TTL that is only ever lengthened.
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
local function keep(h, ttl)
  if redis.call('TTL', h) < ttl then redis.call('EXPIRE', h, ttl) end
end
)lua";

// Grants slices. KEYS: one counter per item. ARGV[1]: the replica; then per item: kind, limit,
// need, want, ttl_s. An item is refused unless `need` is there (slots and budgets: and something
// is left); otherwise it takes as much as `want` allows. Returns per item {granted (-1:
// refused), level left} as strings, flattened.
inline const std::string kGrantScript = std::string(kScriptPrelude) + R"lua(
local rep = ARGV[1]
local out = {}
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 5
  local kind, limit = ARGV[b + 1], tonumber(ARGV[b + 2])
  local need, want, ttl = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local h, f = split(KEYS[i])
  local g, level = -1, 0
  if kind == 'r' or kind == 't' then
    level = refill(redis.call('HGET', h, f), limit)
    if level >= need and level > 0 then
      g = math.max(need, math.min(want, level))
      level = level - g
      redis.call('HSET', h, f, tostring(level) .. ':' .. now)
      keep(h, 120)
    end
  else
    local mine = f .. '#' .. rep
    local v = redis.call('HMGET', h, f, mine)
    local total = tonumber(v[1] or '0')
    local avail = limit - total
    if avail >= need and avail > 0 then
      g = math.max(need, math.min(want, avail))
      total = total + g
      redis.call('HSET', h, f, tostring(total), mine, tostring(tonumber(v[2] or '0') + g))
      if not v[2] then redis.call('SADD', 'ap:held:' .. rep, KEYS[i]) end
      keep(h, kind == 's' and ttl or 86400)
    end
    level = limit - total
  end
  out[#out + 1] = tostring(g)
  out[#out + 1] = tostring(level)
end
return out
)lua";

// Gives back, settles spend and beats. KEYS: one counter per item. ARGV[1]: the replica;
// ARGV[2]: 0, or 1 to beat (and reap replicas whose beat ran out), or 2 when leaving (give back
// every share); then per item: kind, limit, give_back, actual (spend: USD spent by settled
// requests), soft_limit (< 0: none), ttl_s. Returns {registered, crossed…}: registered is 1 when
// a beat found this replica absent (its first beat, or its shares were reaped), 0 when present,
// -1 without a beat; crossed are the 1-based items whose spend crossed their soft limit.
inline const std::string kTickScript = std::string(kScriptPrelude) + R"lua(
local rep, beat = ARGV[1], tonumber(ARGV[2])
local function reap(r)
  local held = 'ap:held:' .. r
  for _, key in ipairs(redis.call('SMEMBERS', held)) do
    local h, f = split(key)
    local share = redis.call('HGET', h, f .. '#' .. r)
    if share then
      redis.call('HINCRBYFLOAT', h, f, -tonumber(share))
      redis.call('HDEL', h, f .. '#' .. r)
    end
  end
  redis.call('DEL', held)
  redis.call('ZREM', 'ap:replicas', r)
end
local crossed = {}
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 6
  local kind, limit, give = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local actual, soft, ttl = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
  local h, f = split(KEYS[i])
  if kind == 'r' or kind == 't' then
    local v = math.min(limit, refill(redis.call('HGET', h, f), limit) + give)
    redis.call('HSET', h, f, tostring(v) .. ':' .. now)
    keep(h, 120)
  else
    local mine = f .. '#' .. rep
    local df = 'd' .. string.sub(f, 2)
    local v = redis.call('HMGET', h, f, mine, df)
    local total, share = tonumber(v[1] or '0'), v[2]
    local args = {}
    if share then
      -- spent and given back both leave this replica's share; only what is given back leaves the total
      args = {f, tostring(total - give), mine, tostring(tonumber(share) - actual - give)}
    elseif actual ~= 0 then
      args = {f, tostring(total + actual)}  -- the share was reaped: the spend still counts
    end
    if kind == 's' and actual ~= 0 then
      local done = tonumber(v[3] or '0') + actual
      args[#args + 1] = df
      args[#args + 1] = tostring(done)
      if soft >= 0 and done - actual < soft and done >= soft then crossed[#crossed + 1] = i end
    end
    if #args > 0 then
      redis.call('HSET', h, unpack(args))
      keep(h, kind == 's' and ttl or 86400)
    end
  end
end
local registered = -1
if beat == 1 then
  registered = redis.call('ZADD', 'ap:replicas', now + 10000, rep)
  for _, dead in ipairs(redis.call('ZRANGEBYSCORE', 'ap:replicas', '-inf', now)) do reap(dead) end
elseif beat == 2 then
  reap(rep)
end
local out = {registered}
for _, i in ipairs(crossed) do out[#out + 1] = i end
return out
)lua";

}  // namespace ap::limits::internal
