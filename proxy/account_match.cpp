#include "proxy/account_match.hpp"

#include <algorithm>

namespace icalgate::proxy {

namespace {

char fold(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_space_or_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

} // namespace

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return fold(x) == fold(y); });
}

bool is_account_pattern(std::string_view pattern) noexcept {
  const std::size_t at = pattern.find('@');
  if (at == std::string_view::npos || pattern.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = pattern.substr(at + 1);
  if (domain.empty() || domain.front() == '.' || domain.back() == '.') {
    return false;
  }
  return std::none_of(pattern.begin(), pattern.end(), is_space_or_control);
}

bool account_matches(std::string_view pattern, std::string_view upn) noexcept {
  if (!pattern.empty() && pattern.front() == '@') {
    // Matching on the last '@' makes "@contoso.com" name "alice@contoso.com" but neither
    // "alice@eu.contoso.com" nor a bare "contoso.com".
    const std::size_t at = upn.rfind('@');
    return at != std::string_view::npos && at > 0 && equals_ignoring_case(upn.substr(at), pattern);
  }
  return equals_ignoring_case(pattern, upn);
}

} // namespace icalgate::proxy
