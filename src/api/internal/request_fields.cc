// api/internal/request_fields.cc — the SAX handler behind ScanRequestFields.
#include "api/internal/request_fields.h"

#include <boost/json/basic_parser_impl.hpp>

#include "api/token_estimate.h"

namespace ap::api::internal {
namespace {
using boost::system::error_code;
using sv = boost::json::string_view;

enum class Slot { kNone, kModel, kStream, kStreamOptions, kUser, kIncludeUsage };

struct Handler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  RequestFields* f = nullptr;
  int depth = 0;           // containers open
  bool in_options = false;  // inside the top-level stream_options object
  std::string key, top_key, options_key, text;
  bool prompt_text = false;  // inside messages, prompt or input: strings there are prompt text
  bool skip_string = false;  // the value of a "role"/"type" key is framing, not text
  std::string prompt_part;   // a prompt string arriving in parts

  Slot Current() const {
    if (depth == 1) {
      if (top_key == "model") return Slot::kModel;
      if (top_key == "stream") return Slot::kStream;
      if (top_key == "stream_options") return Slot::kStreamOptions;
      if (top_key == "user") return Slot::kUser;
    } else if (depth == 2 && in_options && options_key == "include_usage") {
      return Slot::kIncludeUsage;
    }
    return Slot::kNone;
  }
  void Mark(Kind kind) {
    switch (Current()) {
      case Slot::kModel: f->model = kind; break;
      case Slot::kStream: f->stream = kind; break;
      case Slot::kStreamOptions: f->stream_options = kind; break;
      case Slot::kUser: f->user = kind; break;
      case Slot::kIncludeUsage: f->include_usage = kind; break;
      case Slot::kNone: break;
    }
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    if (depth == 0) f->top_is_object = true;
    else Mark(Kind::kObject);
    if (depth == 1 && Current() == Slot::kStreamOptions) {
      in_options = true;
      f->include_usage = Kind::kAbsent;  // a repeated stream_options replaces the earlier one
      options_key.clear();
    }
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, error_code&) {
    if (--depth == 1) in_options = false;
    return true;
  }
  bool on_array_begin(error_code&) {
    if (depth > 0) Mark(Kind::kArray);
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    --depth;
    return true;
  }
  bool on_key_part(sv s, std::size_t, error_code&) {
    if (depth <= 2) key.append(s.data(), s.size());
    return true;
  }
  bool on_key(sv s, std::size_t, error_code&) {
    if (depth <= 2) {
      key.append(s.data(), s.size());
      if (depth == 1) {
        top_key.swap(key);
        prompt_text = top_key == "messages" || top_key == "prompt" || top_key == "input";
        if (top_key == "messages") f->prompt_tokens_estimate += 3;  // the reply's priming
      } else if (in_options) {
        options_key.swap(key);
      }
    }
    if (prompt_text && depth >= 2) {
      // Values of these keys are framing, not text; each message costs ~3 tokens of framing.
      skip_string = s == "role" || s == "type" || s == "name" || s == "tool_call_id" || s == "id";
      if (s == "role") f->prompt_tokens_estimate += 3;
    }
    key.clear();
    return true;
  }
  bool on_string_part(sv s, std::size_t, error_code&) {
    if (prompt_text && !skip_string && f->estimate_prompt) prompt_part.append(s.data(), s.size());
    Slot slot = Current();
    if (slot == Slot::kModel || slot == Slot::kUser) text.append(s.data(), s.size());
    return true;
  }
  bool on_string(sv s, std::size_t, error_code&) {
    if (prompt_text && !skip_string && f->estimate_prompt) {
      if (prompt_part.empty()) {
        f->prompt_tokens_estimate += EstimateTokens(std::string_view(s.data(), s.size()));
      } else {
        prompt_part.append(s.data(), s.size());
        f->prompt_tokens_estimate += EstimateTokens(prompt_part);
        prompt_part.clear();
      }
    }
    skip_string = false;
    Slot slot = Current();
    if (slot == Slot::kModel || slot == Slot::kUser) {
      text.append(s.data(), s.size());
      (slot == Slot::kModel ? f->model_value : f->user_value).swap(text);
    }
    text.clear();
    if (depth > 0) Mark(Kind::kString);
    return true;
  }
  bool on_number_part(sv, error_code&) { return true; }
  bool on_int64(int64_t v, sv, error_code&) { return Integer(v); }
  bool on_uint64(uint64_t v, sv, error_code&) { return Integer(static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX))); }
  bool on_double(double, sv, error_code&) { return Number(); }
  bool on_bool(bool b, error_code&) {
    if (depth == 0) return true;
    Slot slot = Current();
    if (slot == Slot::kStream) f->stream_value = b;
    if (slot == Slot::kIncludeUsage) f->include_usage_value = b;
    Mark(Kind::kBool);
    return true;
  }
  bool on_null(error_code&) {
    if (depth > 0) Mark(Kind::kNull);
    return true;
  }
  bool on_comment_part(sv, error_code&) { return true; }
  bool on_comment(sv, error_code&) { return true; }

  bool Number() {
    skip_string = false;
    if (depth > 0) Mark(Kind::kNumber);
    return true;
  }
  bool Integer(int64_t v) {
    if (depth == 1 && v >= 0 && (top_key == "max_tokens" || top_key == "max_completion_tokens"))
      f->max_tokens = v;
    if (depth >= 2 && prompt_text) f->prompt_tokens_estimate += 1;  // a prompt of token ids
    return Number();
  }
};

}  // namespace

bool ScanRequestFields(std::string_view body, RequestFields* out, error_code* ec) {
  boost::json::parse_options opts;
  opts.max_depth = 256;
  boost::json::basic_parser<Handler> parser(opts);
  parser.handler().f = out;
  std::size_t n = parser.write_some(false, body.data(), body.size(), *ec);
  if (!*ec && n != body.size()) *ec = boost::json::error::extra_data;
  return !*ec;
}

}  // namespace ap::api::internal
