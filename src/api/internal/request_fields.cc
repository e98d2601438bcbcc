// api/internal/request_fields.cc — the SAX handler behind ScanRequestFields.
#include "api/internal/request_fields.h"

#include <boost/json/basic_parser_impl.hpp>

#include "api/token_estimate.h"

namespace ap::api::internal {
namespace {
using boost::system::error_code;
using sv = boost::json::string_view;

enum class Slot { kNone, kModel, kStream, kStreamOptions, kUser, kIncludeUsage };

// The top-level keys the scan looks at, classified once per key instead of compared per event.
enum class TopKey : uint8_t { kOther, kModel, kStream, kStreamOptions, kUser, kMaxTokens, kMessages, kPrompt, kInput };

TopKey ClassifyTopKey(std::string_view k) {
  switch (k.size()) {
    case 4: return k == "user" ? TopKey::kUser : TopKey::kOther;
    case 5: return k == "model" ? TopKey::kModel : k == "input" ? TopKey::kInput : TopKey::kOther;
    case 6: return k == "stream" ? TopKey::kStream : k == "prompt" ? TopKey::kPrompt : TopKey::kOther;
    case 8: return k == "messages" ? TopKey::kMessages : TopKey::kOther;
    case 10: return k == "max_tokens" ? TopKey::kMaxTokens : TopKey::kOther;
    case 14: return k == "stream_options" ? TopKey::kStreamOptions : TopKey::kOther;
    case 21: return k == "max_completion_tokens" ? TopKey::kMaxTokens : TopKey::kOther;
    default: return TopKey::kOther;
  }
}

// Keys inside a prompt whose string values are framing, not text.
bool IsFramingKey(std::string_view k) {
  switch (k.size()) {
    case 2: return k == "id";
    case 4: return k == "role" || k == "type" || k == "name";
    case 12: return k == "tool_call_id";
    default: return false;
  }
}

struct Handler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  RequestFields* f = nullptr;
  int depth = 0;            // containers open
  bool in_options = false;  // inside the top-level stream_options object
  TopKey top = TopKey::kOther;
  bool include_usage_key = false;  // the current key inside stream_options is include_usage
  std::string key_part;     // a key arriving in parts (rare: escapes or split input)
  std::string text_part;    // the model or user string arriving in parts
  bool prompt_text = false;  // inside messages, prompt or input: strings there are prompt text
  bool skip_string = false;  // the value of a "role"/"type" key is framing, not text
  std::string prompt_part;   // a prompt string arriving in parts

  Slot Current() const {
    if (depth == 1) {
      switch (top) {
        case TopKey::kModel: return Slot::kModel;
        case TopKey::kStream: return Slot::kStream;
        case TopKey::kStreamOptions: return Slot::kStreamOptions;
        case TopKey::kUser: return Slot::kUser;
        default: return Slot::kNone;
      }
    }
    if (depth == 2 && in_options && include_usage_key) return Slot::kIncludeUsage;
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
    if (depth == 1 && top == TopKey::kStreamOptions) {
      in_options = true;
      f->include_usage = Kind::kAbsent;  // a repeated stream_options replaces the earlier one
      include_usage_key = false;
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
    if (depth <= 2 || prompt_text) key_part.append(s.data(), s.size());
    return true;
  }
  bool on_key(sv s, std::size_t, error_code&) {
    std::string_view k(s.data(), s.size());
    if (!key_part.empty()) {
      key_part.append(s.data(), s.size());
      k = key_part;
    }
    if (depth == 1) {
      top = ClassifyTopKey(k);
      prompt_text = top == TopKey::kMessages || top == TopKey::kPrompt || top == TopKey::kInput;
      if (top == TopKey::kMessages) f->prompt_tokens_estimate += 3;  // the reply's priming
    } else if (depth == 2 && in_options) {
      include_usage_key = k == "include_usage";
    }
    if (prompt_text && depth >= 2) {
      // Values of these keys are framing, not text; each message costs ~3 tokens of framing.
      skip_string = IsFramingKey(k);
      if (k == "role") f->prompt_tokens_estimate += 3;
    }
    key_part.clear();
    return true;
  }
  bool on_string_part(sv s, std::size_t, error_code&) {
    if (prompt_text && !skip_string && f->estimate_prompt) prompt_part.append(s.data(), s.size());
    Slot slot = Current();
    if (slot == Slot::kModel || slot == Slot::kUser) text_part.append(s.data(), s.size());
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
      std::string& value = slot == Slot::kModel ? f->model_value : f->user_value;
      if (text_part.empty()) {
        value.assign(s.data(), s.size());
      } else {
        text_part.append(s.data(), s.size());
        value.swap(text_part);
        text_part.clear();
      }
    } else {
      text_part.clear();
    }
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
    if (depth == 1 && v >= 0 && top == TopKey::kMaxTokens) f->max_tokens = v;
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
