// telemetry/store_conformance.h — the test suite every telemetry Store must pass (SQLite now,
// PostgreSQL next). A store's test instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest, ::testing::Values(StoreFactory{...}));
//
// The factory opens a store on `scratch` (a fresh directory per test for embedded stores; a
// server store would use it as a schema/database name); calling it twice with the same scratch
// must reopen the same data, which is how durability across restarts is checked.
#pragma once

#include <functional>
#include <memory>
#include <string>

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

  std::string scratch_;
  std::string dir_;  // where the store lives: scratch_, or OpenFresh's subdirectory
  std::unique_ptr<Store> store_;
};

}  // namespace ap::telemetry
