#include "calendar/graph_error.hpp"

namespace icalgate::calendar {

std::string_view graph_errc_name(GraphErrc code) {
  switch (code) {
  case GraphErrc::config:
    return "config";
  case GraphErrc::insecure_endpoint:
    return "insecure_endpoint";
  case GraphErrc::resolve:
    return "resolve";
  case GraphErrc::connect:
    return "connect";
  case GraphErrc::tls:
    return "tls";
  case GraphErrc::timeout:
    return "timeout";
  case GraphErrc::auth:
    return "auth";
  case GraphErrc::forbidden:
    return "forbidden";
  case GraphErrc::not_found:
    return "not_found";
  case GraphErrc::bad_request:
    return "bad_request";
  case GraphErrc::throttled:
    return "throttled";
  case GraphErrc::unavailable:
    return "unavailable";
  case GraphErrc::bad_response:
    return "bad_response";
  }
  return "unknown";
}

} // namespace icalgate::calendar
