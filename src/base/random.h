// base/random.h — fast per-thread randomness for load balancing, jitter and request ids.
// Not for secrets: keys and tokens come from OpenSSL's RAND_bytes in the module that mints them.
#pragma once

#include <cstdint>
#include <string>

namespace ap {

// A uniformly distributed 64-bit value from a per-thread xoshiro256** generator.
uint64_t RandomU64();
// A uniform double in [0, 1).
double RandomUnit();
// 32 lowercase hex characters: a 128-bit id (request ids, trace ids).
std::string RandomHexId(int bytes = 16);

}  // namespace ap
