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
// A 128-bit id as 32 lowercase hex characters whose first 48 bits are the Unix time in
// milliseconds and whose other 80 bits are random (UUIDv7's layout): ids minted later sort
// later, so a store's id index grows at its right edge instead of at random places. The
// rightmost 7 bytes are random, as W3C Trace Context level 2 asks of trace ids.
std::string TimeOrderedHexId(int64_t unix_millis);
std::string TimeOrderedHexId();  // now

}  // namespace ap
