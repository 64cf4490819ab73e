#pragma once
// Text placed in the gateway's HTML pages and XML documents: the five characters that could
// end an element or an attribute value become references (&#39; rather than &apos;, which
// HTML 4 lacks), so the same escaping serves both.

#include <string>
#include <string_view>

namespace icalgate::proxy {

std::string markup_escape(std::string_view text);

} // namespace icalgate::proxy
