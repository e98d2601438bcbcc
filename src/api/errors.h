// api/errors.h — every client-facing error, and the one place that maps it to an HTTP status and
// an OpenAI-shaped body: {"error":{"message","type","param","code"}}. Modules return ApiError
// values; only the gateway's response writer turns them into bytes.
#pragma once

#include <string>

namespace ap::api {

enum class ErrorKind {
  kInvalidRequest,   // 400
  kAuthentication,   // 401
  kPermission,       // 403
  kNotFound,         // 404
  kRequestTimeout,   // 408
  kPayloadTooLarge,  // 413
  kRateLimited,      // 429
  kHeadersTooLarge,  // 431
  kInternal,         // 500
  kBadGateway,       // 502: the backends failed after retries
  kUnavailable,      // 503: no backend could take the request (all ejected, draining)
  kGatewayTimeout,   // 504: the backends timed out
};

struct ApiError {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  std::string param;  // the offending request field, when there is one
  std::string code;   // a stable machine-readable code, e.g. "model_not_found"
};

int HttpStatus(ErrorKind kind);
// OpenAI's `type` for the kind ("invalid_request_error", "authentication_error", …).
const char* ErrorType(ErrorKind kind);
// The JSON body for `error`.
std::string ErrorBody(const ApiError& error);
// Maps an HTTP status (for example one the transport layer produced) to a kind.
ErrorKind KindForStatus(int status);

}  // namespace ap::api
