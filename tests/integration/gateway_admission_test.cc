// tests/integration/gateway_admission_test.cc — the gateway's side of the Admitter contract,
// with a scripted admitter: 401s come from Authenticate, 403 from the allowlist, refusals carry
// the admitter's headers, successful replies too, every admitted request is settled once with
// its usage, and a virtual key is scheduled as its team whatever the client claims.
#include <gtest/gtest.h>

#include <mutex>

#include "gateway/admission.h"
#include "gateway/picker.h"
#include "gateway_harness.h"
#include "mock_upstream.h"

namespace ap::testing {
namespace {

struct ScriptedAdmitter : gateway::Admitter {
  std::optional<api::ApiError> Authenticate(std::string_view token, bool, gateway::Caller* c) const override {
    if (token != "sk-team-key" && token != "sk-refused") return api::ApiError{api::ErrorKind::kAuthentication, "no", "", "invalid_api_key"};
    c->key_id = "key-000000000001";
    c->team = "ml";
    c->project = "ml";
    c->state = std::make_shared<int>(token == "sk-refused");
    return std::nullopt;
  }
  bool AllowsModel(const gateway::Caller&, std::string_view model) const override { return model != "forbidden"; }
  boost::asio::awaitable<gateway::Admission> Admit(const gateway::Caller& c, gateway::AdmissionRequest r) override {
    gateway::Admission a;
    a.headers.Add("x-ratelimit-remaining-requests", "7");
    if (*static_cast<const int*>(c.state.get())) {
      a.headers.Add("retry-after", "3");
      a.error = api::ApiError{api::ErrorKind::kRateLimited, "Rate limit reached", "", "rate_limit_exceeded"};
    } else {
      a.ticket = std::make_shared<int>(0);
      std::lock_guard lock(mu);
      admitted_prompt_tokens = r.prompt_tokens;
      admitted_max_tokens = r.max_tokens;
    }
    co_return a;
  }
  void Settle(const gateway::Admission&, const gateway::CompletionRecord& rec, std::optional<double>) override {
    std::lock_guard lock(mu);
    settled++;
    settled_tokens = rec.usage.total_tokens;
  }
  mutable std::mutex mu;
  int settled = 0;
  int64_t settled_tokens = 0, admitted_prompt_tokens = 0, admitted_max_tokens = 0;
};

// Records what the scheduler would see of the request.
struct RecordingPicker : gateway::ReplicaPicker, gateway::PickerFactory {
  boost::asio::awaitable<gateway::PickResult> Pick(const gateway::BackendGroup& group, const gateway::PickContext& ctx) override {
    std::lock_guard lock(mu);
    auto t = ctx.incoming.find("x-tenant");
    tenant = t == ctx.incoming.end() ? "" : std::string(t->value());
    priority_seen = ctx.incoming.find("x-priority") != ctx.incoming.end();
    gateway::PickResult r;
    for (const auto& m : group.members)
      if (std::find(ctx.exclude.begin(), ctx.exclude.end(), m.backend) == ctx.exclude.end()) r.backend = m.backend;
    co_return r;
  }
  std::shared_ptr<gateway::ReplicaPicker> ForModel(const config::ModelConfig&,
                                                   const std::vector<const gateway::BackendState*>&) override {
    return std::shared_ptr<gateway::ReplicaPicker>(std::shared_ptr<void>(), this);  // not owned
  }
  std::mutex mu;
  std::string tenant;
  bool priority_seen = true;
};

TEST(GatewayAdmission, AuthAllowlistRefusalsHeadersSettlementAndSchedulingIdentity) {
  MockUpstream up;
  setenv("AP_UP1", up.url().c_str(), 1);
  auto admitter = std::make_shared<ScriptedAdmitter>();
  auto picker = std::make_shared<RecordingPicker>();
  gateway::GatewayOptions options;
  options.admitter = admitter;
  options.pickers = std::shared_ptr<gateway::PickerFactory>(picker, picker.get());
  TestGateway g(R"(
backends: [{name: b1, url: "${AP_UP1}"}]
models: [{name: m, backends: [b1]}, {name: forbidden, backends: [b1]}]
)", 1, options);
  TestClient c(g.port());
  const std::string body = R"({"model":"m","max_tokens":9,"messages":[{"role":"user","content":"Hello there"}]})";

  auto missing = c.Post("/v1/chat/completions", body);
  EXPECT_EQ(missing.status, 401);
  auto forbidden = c.Post("/v1/chat/completions", R"({"model":"forbidden","messages":[]})",
                          {{"authorization", "Bearer sk-team-key"}});
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_NE(forbidden.body.find("model_not_allowed"), std::string::npos);

  auto refused = c.Post("/v1/chat/completions", body, {{"authorization", "Bearer sk-refused"}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.headers["retry-after"], "3");
  EXPECT_EQ(refused.headers["x-ratelimit-remaining-requests"], "7");
  EXPECT_EQ(up.calls(), 0);  // nothing reached the backend

  auto ok = c.Post("/v1/chat/completions", body,
                   {{"authorization", "Bearer sk-team-key"}, {"x-tenant", "someone-else"}, {"x-priority", "100"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.headers["x-ratelimit-remaining-requests"], "7");
  for (int i = 0; i < 100 && admitter->settled == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::lock_guard lock(admitter->mu);
  EXPECT_EQ(admitter->settled, 1);
  EXPECT_EQ(admitter->settled_tokens, 18);  // the mock's usage
  EXPECT_EQ(admitter->admitted_max_tokens, 9);
  EXPECT_GT(admitter->admitted_prompt_tokens, 0);
  std::lock_guard plock(picker->mu);
  EXPECT_EQ(picker->tenant, "ml");  // the key's team, not what the client claimed
  EXPECT_FALSE(picker->priority_seen);
  auto records = g.sink->records(4);
  ASSERT_GE(records.size(), 4u);
  EXPECT_EQ(records.back().team, "ml");
  EXPECT_EQ(records.back().project, "ml");
  EXPECT_EQ(records.back().key_id, "key-000000000001");
}

}  // namespace
}  // namespace ap::testing
