// api/errors.cc
#include "api/errors.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace ap::api {

int HttpStatus(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidRequest: return 400;
    case ErrorKind::kAuthentication: return 401;
    case ErrorKind::kPermission: return 403;
    case ErrorKind::kNotFound: return 404;
    case ErrorKind::kRequestTimeout: return 408;
    case ErrorKind::kPayloadTooLarge: return 413;
    case ErrorKind::kRateLimited: return 429;
    case ErrorKind::kHeadersTooLarge: return 431;
    case ErrorKind::kInternal: return 500;
    case ErrorKind::kBadGateway: return 502;
    case ErrorKind::kUnavailable: return 503;
    case ErrorKind::kGatewayTimeout: return 504;
  }
  return 500;
}

const char* ErrorType(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidRequest:
    case ErrorKind::kNotFound:
    case ErrorKind::kPayloadTooLarge:
    case ErrorKind::kHeadersTooLarge:
    case ErrorKind::kRequestTimeout: return "invalid_request_error";
    case ErrorKind::kAuthentication: return "authentication_error";
    case ErrorKind::kPermission: return "permission_error";
    case ErrorKind::kRateLimited: return "rate_limit_error";
    case ErrorKind::kInternal: return "server_error";
    case ErrorKind::kBadGateway:
    case ErrorKind::kUnavailable:
    case ErrorKind::kGatewayTimeout: return "api_error";
  }
  return "server_error";
}

ErrorKind KindForStatus(int status) {
  switch (status) {
    case 400: return ErrorKind::kInvalidRequest;
    case 401: return ErrorKind::kAuthentication;
    case 403: return ErrorKind::kPermission;
    case 404: return ErrorKind::kNotFound;
    case 408: return ErrorKind::kRequestTimeout;
    case 413: return ErrorKind::kPayloadTooLarge;
    case 429: return ErrorKind::kRateLimited;
    case 431: return ErrorKind::kHeadersTooLarge;
    case 502: return ErrorKind::kBadGateway;
    case 503: return ErrorKind::kUnavailable;
    case 504: return ErrorKind::kGatewayTimeout;
    default: return status >= 500 ? ErrorKind::kInternal : ErrorKind::kInvalidRequest;
  }
}

std::string ErrorBody(const ApiError& error) {
  boost::json::object inner;
  inner["message"] = error.message;
  inner["type"] = ErrorType(error.kind);
  inner["param"] = error.param.empty() ? boost::json::value(nullptr) : boost::json::value(error.param);
  inner["code"] = error.code.empty() ? boost::json::value(nullptr) : boost::json::value(error.code);
  boost::json::object outer;
  outer["error"] = std::move(inner);
  return boost::json::serialize(outer);
}

}  // namespace ap::api
