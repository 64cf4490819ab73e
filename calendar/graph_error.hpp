#pragma once
// Errors of the Graph client as values. Messages name the operation and what
// went wrong, never a token, a secret or a request body.

#include "protocol/result.hpp"

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace icalgate::calendar {

enum class GraphErrc {
  config,            // bad configuration (missing secret file, malformed URL, ...)
  insecure_endpoint, // plain http to a host that is not a loopback address
  resolve,           // DNS failure
  connect,           // TCP connect failed or the connection broke
  tls,               // TLS handshake or certificate verification failed
  timeout,           // a request or the whole operation ran out of time
  auth,              // the token endpoint refused us, or Graph kept answering 401
  forbidden,         // 403: the app lacks the permission or the access policy excludes
                     // the user
  not_found,         // no such user / message / event, or the lookup found no event
                     // message
  bad_request,       // 400 from Graph (a query it does not accept)
  throttled,         // 429 and the retry budget is spent
  unavailable,       // 5xx and the retry budget is spent
  bad_response,      // malformed HTTP or JSON, a response over its limit, a foreign
                     // nextLink
};

std::string_view graph_errc_name(GraphErrc code);

struct GraphError {
  GraphErrc code;
  std::string message;
  int http_status = 0; // the last HTTP status seen, 0 when none
};

template <class T>
using GraphResult = protocol::Result<T, GraphError>;

} // namespace icalgate::calendar
