#pragma once
// Text encodings for Graph URLs: OData string literals and percent-encoding.

#include <initializer_list>
#include <string>
#include <string_view>

namespace icalgate::calendar {

// 'text' as an OData string literal: single quotes around, inner single quotes
// doubled.
std::string odata_string_literal(std::string_view text);

// Percent-encodes everything but RFC 3986 unreserved characters (and '@' when
// keep_at is set, which Graph's user path segments use verbatim).
std::string percent_encode(std::string_view text, bool keep_at = false);

// The query string `name=value&...` with every value percent-encoded.
struct QueryParam {
  std::string_view name;
  std::string_view value;
};
std::string build_query(std::initializer_list<QueryParam> params);

} // namespace icalgate::calendar
