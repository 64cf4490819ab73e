#pragma once
// Answers in the exact shapes Microsoft sends: Graph's
// {"error":{"code","message", "innerError"}} and the identity platform's
// {"error","error_description","error_codes",…}.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>

namespace icalgate::graphsim {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

Response json_response(int status, std::string body);
Response graph_error(int status, std::string_view code, std::string_view message);
Response identity_error(int status, std::string_view error, int aadsts,
                        std::string_view description);

std::string random_guid();
std::string random_token();
std::string utc_now_iso(); // "2026-11-27T11:30:00"

} // namespace icalgate::graphsim
