#pragma once
// Content-Transfer-Encoding decoding for BINARY[] (RFC 3516), following Dovecot's decoders.

#include <optional>
#include <string>
#include <string_view>

namespace icalgate::protocol::mime {

enum class TransferEncoding { identity, base64, quoted_printable, unknown };

// 7bit, 8bit, binary and an absent header are identity; names compare case-insensitively.
TransferEncoding classify_transfer_encoding(const std::optional<std::string>& cte);

// nullopt when the input is not valid (Dovecot then answers BINARY[...] NIL).
std::optional<std::string> decode_base64(std::string_view in);
std::optional<std::string> decode_quoted_printable(std::string_view in);

} // namespace icalgate::protocol::mime
