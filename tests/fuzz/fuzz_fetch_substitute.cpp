// A server FETCH response rebuilt for a message the gateway serves itself. Input: the
// message, "\n--8<--\n", the requested fetch-att list, "\n--8<--\n", the response. Whenever
// substitution succeeds, the result must parse as a FETCH for the same sequence number with
// the same attributes in the same order, and every attribute that shows no content must be
// the server's bytes unchanged. The Message-ID the gateway reads from such answers (to decide
// a header sync without probing) is checked along the way.

#include "protocol/fetch_answer.hpp"
#include "protocol/fetch_substitute.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fetch substitution: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace icalgate::protocol;
  constexpr std::string_view cut = "\n--8<--\n";
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t a = input.find(cut);
  const std::size_t b = a == std::string_view::npos ? a : input.find(cut, a + cut.size());
  if (b == std::string_view::npos) {
    return 0;
  }
  auto msg = mime::parse_message(std::string(input.substr(0, a)));
  auto items = parse_fetch_items(input.substr(a + cut.size(), b - a - cut.size()));
  auto response = parse_response(input.substr(b + cut.size()));
  if (items) {
    // The header-sync path's reading of the same inputs: must not crash, ids have no blanks.
    static_cast<void>(answers_name_message_id(*items) && answers_are_header_sized(*items));
  }
  if (response && response->kind == ResponseKind::fetch) {
    const auto id = answer_message_id(std::get<FetchData>(response->body));
    if (id && id->find_first_of(" \t\r\n") != std::string::npos) {
      fail("a Message-ID with blanks");
    }
  }
  if (!msg || !items || !response || response->kind != ResponseKind::fetch) {
    return 0;
  }
  auto out = substitute_fetch(*response, *msg, *items);
  if (!out) {
    return 0;
  }
  auto again = parse_response(*out);
  if (!again || again->kind != ResponseKind::fetch) {
    fail("the result does not parse as a FETCH response");
  }
  const auto& before = std::get<FetchData>(response->body);
  const auto& after = std::get<FetchData>(again->body);
  if (before.number != after.number || before.atts.size() != after.atts.size()) {
    fail("sequence number or attribute count changed");
  }
  for (std::size_t i = 0; i < before.atts.size(); ++i) {
    const MsgAtt& x = before.atts[i];
    const MsgAtt& y = after.atts[i];
    if (x.attr != y.attr || x.name != y.name) {
      fail("attribute order changed");
    }
    const bool content =
        x.attr && shows_content(FetchItem{*x.attr, x.section, false, std::nullopt});
    if (!content && response->raw.substr(x.whole.offset, x.whole.length) !=
                        again->raw.substr(y.whole.offset, y.whole.length)) {
      fail("an attribute without content was altered");
    }
  }
  return 0;
}
