// gateway/access_log.h — prints each CompletionRecord as one access-log line (text or JSON).
// Never prints request or response bodies, API keys or Authorization headers.
#pragma once

#include <string>

#include "gateway/completion.h"

namespace ap::gateway {

class AccessLog : public CompletionSink {
 public:
  explicit AccessLog(bool json) : json_(json) {}
  void Record(const CompletionRecord& record) override;
  static std::string FormatJson(const CompletionRecord& record);
  static std::string FormatText(const CompletionRecord& record);

 private:
  bool json_;
};

}  // namespace ap::gateway
