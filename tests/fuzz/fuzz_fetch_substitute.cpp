// A server FETCH response rebuilt for a message the gateway serves itself. Input: the
// message, "\n--8<--\n", the requested fetch-att list, "\n--8<--\n", the response. Whenever
// substitution succeeds, the result must parse as a FETCH for the same sequence number with
// the same attributes in the same order, and every attribute that shows no content must be
// the server's bytes unchanged. The Message-ID the gateway reads from such answers (to decide
// a header sync without probing) is checked along the way, and so is the completion of a
// server's answer to the reduced items asked when the gateway serves every content item
// itself: the result parses as a FETCH for the same message, with the server's UID and FLAGS.
// Completed for a FETCH by sequence number, it is the same less a UID the client did not ask for.
// An answer rebuilt from an announcement (a size and a header transform) parses too, with
// the same attributes, each header the transform's bytes.

#include "protocol/fetch_answer.hpp"
#include "protocol/fetch_complete.hpp"
#include "protocol/fetch_substitute.hpp"

#include <algorithm>
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

// The first attribute of kind `attr`, or null when there is none.
const icalgate::protocol::MsgAtt* first_att(const icalgate::protocol::Response& r,
                                            icalgate::protocol::FetchAttr attr) {
  for (const auto& att : std::get<icalgate::protocol::FetchData>(r.body).atts) {
    if (att.attr == attr) {
      return &att;
    }
  }
  return nullptr;
}

void check_completion(const icalgate::protocol::Response& response,
                      const icalgate::protocol::mime::Message& msg,
                      const icalgate::protocol::FetchItems& items) {
  using namespace icalgate::protocol;
  if (!server_items(items)) {
    return;
  }
  auto out = complete_fetch(response, msg, items);
  if (!out) {
    return;
  }
  auto again = parse_response(*out);
  if (!again || again->kind != ResponseKind::fetch) {
    fail("a completed answer does not parse as a FETCH response");
  }
  if (std::get<FetchData>(again->body).number != std::get<FetchData>(response.body).number) {
    fail("a completed answer names another message");
  }
  const MsgAtt* uid = first_att(response, FetchAttr::uid);
  const MsgAtt* uid_after = first_att(*again, FetchAttr::uid);
  if (uid != nullptr && (uid_after == nullptr || uid_after->number != uid->number)) {
    fail("a completed answer changed the server's UID");
  }
  const MsgAtt* flags = first_att(response, FetchAttr::flags);
  const MsgAtt* flags_after = first_att(*again, FetchAttr::flags);
  if (flags != nullptr && (flags_after == nullptr || flags_after->flags != flags->flags)) {
    fail("a completed answer changed the server's FLAGS");
  }

  // Completing the answer to a FETCH by sequence number: the same, less a UID not asked for.
  auto by_sequence = complete_fetch(response, msg, items, false);
  if (!by_sequence) {
    fail("a completion by UID succeeded where one by sequence number did not");
  }
  auto seq_again = parse_response(*by_sequence);
  if (!seq_again || seq_again->kind != ResponseKind::fetch) {
    fail("a completed answer by sequence number does not parse as a FETCH response");
  }
  const bool asked_uid =
      std::any_of(items.items.begin(), items.items.end(),
                  [](const FetchItem& item) { return item.attr == FetchAttr::uid; });
  const MsgAtt* seq_uid = first_att(*seq_again, FetchAttr::uid);
  if (asked_uid ? (uid != nullptr && seq_uid == nullptr) : seq_uid != nullptr) {
    fail("a completed answer by sequence number shows a UID it was not asked for, or lost one");
  }
  const auto& atts = std::get<FetchData>(again->body).atts;
  const auto& seq_atts = std::get<FetchData>(seq_again->body).atts;
  const std::size_t dropped = !asked_uid && uid_after != nullptr ? 1 : 0;
  if (seq_atts.size() + dropped != atts.size()) {
    fail("a completed answer by sequence number differs by more than the UID");
  }
}

void check_announced(const icalgate::protocol::Response& response) {
  using namespace icalgate::protocol;
  const std::string marker = "X-Announced: yes\r\n";
  auto out = announce_fetch(response, 12345, [&marker](std::string_view header, bool) {
    return marker + std::string(header);
  });
  if (!out) {
    return;
  }
  auto again = parse_response(*out);
  if (!again || again->kind != ResponseKind::fetch) {
    fail("an announced answer does not parse as a FETCH response");
  }
  const auto& before = std::get<FetchData>(response.body);
  const auto& after = std::get<FetchData>(again->body);
  if (before.number != after.number || before.atts.size() != after.atts.size()) {
    fail("an announced answer changed the sequence number or the attribute count");
  }
  for (std::size_t i = 0; i < after.atts.size(); ++i) {
    const MsgAtt& x = before.atts[i];
    const MsgAtt& y = after.atts[i];
    if (x.attr != y.attr) {
      fail("an announced answer changed the attribute order");
    }
    if (y.attr == FetchAttr::rfc822_size && y.number != 12345) {
      fail("an announced answer with another size");
    }
    const bool content =
        x.attr && shows_content(FetchItem{*x.attr, x.section, false, std::nullopt});
    if (content && x.attr != FetchAttr::rfc822_size &&
        (!x.string || !y.string || y.string->value != marker + x.string->value)) {
      fail("an announced header is not the transform's");
    }
  }
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
    check_announced(*response);
  }
  if (items && response && response->kind == ResponseKind::fetch) {
    // The whole message an answer carries is one of its own values, and only ever found
    // where the items may carry it.
    const auto& answer = std::get<FetchData>(response->body);
    if (const auto whole = whole_message_in(answer, *items)) {
      if (!answers_may_carry_whole_message(*items)) {
        fail("a whole message where the items cannot carry one");
      }
      if (std::none_of(answer.atts.begin(), answer.atts.end(), [&whole](const MsgAtt& att) {
            return att.string && att.string->value.data() == whole->data() &&
                   att.string->value.size() == whole->size();
          })) {
        fail("a whole message that is no value of the answer");
      }
    }
  }
  if (!msg || !items || !response || response->kind != ResponseKind::fetch) {
    return 0;
  }
  check_completion(*response, *msg, *items);
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
