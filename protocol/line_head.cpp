#include "protocol/line_head.hpp"

#include "protocol/lexer.hpp"

#include <algorithm>
#include <charconv>

namespace icalgate::protocol {

LineHead head_of(std::string_view line) {
  LineHead head;
  auto token = [&line]() {
    const std::size_t end = line.find_first_of(" \r\n");
    std::string_view t = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size()
                                                     : std::min(end + 1, line.size()));
    return t;
  };
  head.tag = token();
  std::string_view second = token();
  std::uint32_t n = 0;
  if (!second.empty() && std::from_chars(second.data(), second.data() + second.size(), n).ptr ==
                             second.data() + second.size()) {
    head.number = n;
    head.name = token();
  } else {
    head.name = second;
  }
  return head;
}

std::optional<std::uint32_t> leading_uid(std::string_view line) {
  const std::size_t open = line.find('(');
  if (open == std::string_view::npos || line.size() < open + 6 ||
      !imap_iequals(line.substr(open + 1, 4), "UID ")) {
    return std::nullopt;
  }
  const char* begin = line.data() + open + 5;
  const char* end = line.data() + line.size();
  std::uint32_t uid = 0;
  const auto [next, ec] = std::from_chars(begin, end, uid);
  if (ec != std::errc() || (next != end && *next != ' ' && *next != ')')) {
    return std::nullopt;
  }
  return uid;
}

std::optional<std::uint32_t> code_number_in(std::string_view line, std::string_view code) {
  for (std::size_t i = 0; i + code.size() < line.size(); ++i) {
    if (imap_iequals(line.substr(i, code.size()), code)) {
      std::uint32_t v = 0;
      const char* begin = line.data() + i + code.size();
      if (std::from_chars(begin, line.data() + line.size(), v).ec == std::errc()) {
        return v;
      }
    }
  }
  return std::nullopt;
}

} // namespace icalgate::protocol
