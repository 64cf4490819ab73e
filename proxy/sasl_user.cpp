#include "proxy/sasl_user.hpp"

#include "protocol/lexer.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <vector>

namespace icalgate::proxy {

namespace {

inline constexpr std::size_t max_sasl_response = 64 * 1024;

// Wipes the decoded bytes (they hold a password or token) when leaving scope.
struct Wiped {
  std::string text;
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { OPENSSL_cleanse(text.data(), text.size()); }
};

std::optional<std::string> field_after(std::string_view text, std::string_view key,
                                       char separator) {
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(separator, pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view field = text.substr(pos, end - pos);
    if (field.starts_with(key)) {
      return std::string(field.substr(key.size()));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text == "=") {
    return std::string();
  }
  if (text.size() % 4 != 0 || text.size() > max_sasl_response) {
    return std::nullopt;
  }
  std::vector<unsigned char> out(text.size() / 4 * 3 + 1);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) {
    return std::nullopt;
  }
  // EVP_DecodeBlock counts padding as zero bytes: drop them.
  std::size_t size = static_cast<std::size_t>(n);
  if (text.ends_with("==")) {
    size -= 2;
  } else if (text.ends_with("=")) {
    size -= 1;
  }
  std::string result(reinterpret_cast<const char*>(out.data()), size);
  OPENSSL_cleanse(out.data(), out.size());
  return result;
}

std::string encode_base64(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> sasl_username(std::string_view mechanism, std::string_view response) {
  auto decoded = decode_base64(response);
  if (!decoded) {
    return std::nullopt;
  }
  Wiped plain;
  plain.text = std::move(*decoded);
  const std::string_view text = plain.text;
  if (protocol::imap_iequals(mechanism, "PLAIN")) {
    const std::size_t first = text.find('\0');
    if (first == std::string_view::npos) {
      return std::nullopt;
    }
    const std::size_t second = text.find('\0', first + 1);
    if (second == std::string_view::npos) {
      return std::nullopt;
    }
    if (first > 0) {
      return std::string(text.substr(0, first));
    }
    return std::string(text.substr(first + 1, second - first - 1));
  }
  if (protocol::imap_iequals(mechanism, "XOAUTH2")) {
    return field_after(text, "user=", '\x01');
  }
  if (protocol::imap_iequals(mechanism, "OAUTHBEARER")) {
    const std::string_view gs2 = text.substr(0, text.find('\x01'));
    return field_after(gs2, "a=", ',');
  }
  return std::nullopt;
}

} // namespace icalgate::proxy
