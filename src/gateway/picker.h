// gateway/picker.h — the extension point through which a scheduler chooses the replica of a
// backend group (the inference scheduler module implements it; the gateway only calls it).
//
// Without a picker a group is balanced by weight (BackendGroup::Pick). With one, every attempt
// asks the picker, which may wait (a bounded queue when all replicas are saturated) or refuse
// with an ApiError (429 when its queue is full). The gateway reports each attempt's start and end
// so the picker can count in-flight requests and learn which replica holds which prefix.
// Pick runs on the request's event loop: it must never block the thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/errors.h"
#include "api/openai.h"
#include "config/config.h"
#include "http/server.h"

namespace ap::gateway {

class BackendGroup;
struct BackendState;

struct PickContext {
  const api::InferenceRequest& body;
  const http::Request& incoming;
  const std::vector<const BackendState*>& exclude;  // tried already for this request
};

struct PickResult {
  const BackendState* backend = nullptr;  // null with no error: no member can take it (fall back)
  std::optional<api::ApiError> error;     // refuse the request (for example 429, queue full)
  std::string debug;                      // optional: why this replica (for a debug header)
};

class ReplicaPicker {
 public:
  virtual ~ReplicaPicker() = default;
  virtual boost::asio::awaitable<PickResult> Pick(const BackendGroup& group, const PickContext& ctx) = 0;
  // An attempt on `backend` starts / ends (status: the upstream status, or 0 on transport error).
  virtual void OnStart(const BackendState& backend, const PickContext& ctx) {}
  virtual void OnFinish(const BackendState& backend, const PickContext& ctx, int status) {}
};

// Builds the picker of a model from its config; null: plain weighted balancing. Set by the
// program (cmd) when it links a scheduler; the gateway module itself knows none.
class PickerFactory {
 public:
  virtual ~PickerFactory() = default;
  virtual std::shared_ptr<ReplicaPicker> ForModel(const config::ModelConfig& model,
                                                  const std::vector<const BackendState*>& members) = 0;
};

}  // namespace ap::gateway
