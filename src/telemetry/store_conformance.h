// telemetry/store_conformance.h — the test suite every telemetry Store must pass (SQLite now,
// PostgreSQL next). A store's test instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest, ::testing::Values(StoreFactory{...}));
//
// The factory opens a store on `scratch` (a fresh directory per test for embedded stores; a
// server store would use it as a schema/database name); calling it twice with the same scratch
// must reopen the same data, which is how durability across restarts is checked.
//
// The suite's tests are split by area: store_conformance.cc (the fixture, round trips,
// concurrency, reopen), store_conformance_upserts.cc (Langfuse merge semantics),
// store_conformance_queries.cc, store_conformance_usage.cc and store_conformance_gateway.cc.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "telemetry/store.h"

namespace ap::telemetry {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<Store>(const std::string& scratch)> open;
};

inline std::string PrintToString(const StoreFactory& f) { return f.name; }

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<Store> Reopen();
  // A new, empty store in subdirectory `name` of scratch (a test that runs its body once per
  // form of its input); Reopen reopens that one from then on.
  std::unique_ptr<Store> OpenFresh(const std::string& name);

  // What the tests, in every store_conformance*.cc, build their items from (defined in
  // store_conformance.cc): fixed times, a trace and a generation in project p1, items that are not
  // fresh, a write that must succeed, and the usage total.
  static constexpr int64_t kDay = 86'400'000'000;
  static constexpr int64_t kT0 = 1'714'564'800'000'000;  // 2024-05-01T12:00:00Z
  static Trace MakeTrace(const std::string& id, int64_t ts, const std::string& user = "",
                         const std::string& session = "");
  static Observation MakeGen(const std::string& id, const std::string& trace, int64_t start,
                             const std::string& model, int64_t in, int64_t out, double cost);
  static Item It(Trace t, std::string event = "");
  static Item It(Observation o, std::string event = "");
  static Item It(Score s, std::string event = "");
  static void MustWrite(Store& s, std::vector<Item> items);
  static UsageRow Total(Store& s, UsageQuery q = {});

  std::string scratch_;
  std::string dir_;  // where the store lives: scratch_, or OpenFresh's subdirectory
  std::unique_ptr<Store> store_;
};

}  // namespace ap::telemetry
