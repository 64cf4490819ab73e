// Reading a message's identity out of the client's own header-sync answers: the gateway
// decides a message from these without asking the server, so a wrong or missed Message-ID
// here would show a meeting message unrewritten.

#include "mime_test_support.hpp"
#include "protocol/fetch_answer.hpp"
#include "protocol/response.hpp"

#include <catch2/catch_test_macros.hpp>

using namespace icalgate::protocol;

namespace {

std::optional<std::string> id_in(const std::string& response) {
  auto parsed = parse_response(response);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->kind == ResponseKind::fetch);
  return answer_message_id(std::get<FetchData>(parsed->body));
}

// "* 3 FETCH (UID 7 <label> {n}\r\n<block>)\r\n"
std::string answer(const std::string& label, const std::string& block) {
  return "* 3 FETCH (UID 7 " + label + " {" + std::to_string(block.size()) + "}\r\n" + block +
         ")\r\n";
}

} // namespace

TEST_CASE("message_id_in_header unfolds and strips the value", "[fetch_answer]") {
  CHECK(message_id_in_header("From: a@b\r\nMessage-ID: <x@y>\r\n\r\n") == "<x@y>");
  CHECK(message_id_in_header("message-id:\r\n <folded@host.example>\r\nSubject: s\r\n\r\n") ==
        "<folded@host.example>");
  CHECK(message_id_in_header("MESSAGE-ID :\t<tab@x>\n\n") == "<tab@x>");
  CHECK(message_id_in_header("X-Message-ID: <no@x>\r\nSubject: s\r\n\r\n").empty());
  // A body line that looks like the field is not one: the block is the header only.
  CHECK(message_id_in_header("Subject: Message-ID: <no@x>\r\n\r\n").empty());
  CHECK(message_id_in_header("").empty());
}

TEST_CASE("which requests carry the Message-ID and stay header-sized", "[fetch_answer]") {
  const auto thunderbird = items_of(
      "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID "
      "Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])");
  CHECK(answers_name_message_id(thunderbird));
  CHECK(answers_are_header_sized(thunderbird));

  CHECK(answers_name_message_id(items_of("(UID ENVELOPE)")));
  CHECK(answers_name_message_id(items_of("(UID BODY.PEEK[HEADER])")));
  CHECK(answers_name_message_id(items_of("RFC822.HEADER")));
  CHECK_FALSE(answers_name_message_id(items_of("(UID RFC822.SIZE FLAGS)")));
  CHECK_FALSE(answers_name_message_id(items_of("(UID BODY.PEEK[HEADER.FIELDS (From)])")));
  CHECK_FALSE(answers_name_message_id(items_of("(UID BODY.PEEK[HEADER.FIELDS.NOT (From)])")));
  CHECK_FALSE(answers_name_message_id(items_of("(UID BODY.PEEK[1.HEADER])")));
  CHECK_FALSE(answers_name_message_id(items_of("(UID BODY.PEEK[HEADER]<0.100>)")));

  CHECK(answers_are_header_sized(items_of("(UID FLAGS BODYSTRUCTURE ENVELOPE INTERNALDATE)")));
  CHECK_FALSE(answers_are_header_sized(items_of("(UID BODY.PEEK[])")));
  CHECK_FALSE(answers_are_header_sized(items_of("(UID BODY.PEEK[HEADER] BODY.PEEK[TEXT])")));
  CHECK_FALSE(answers_are_header_sized(items_of("(UID RFC822)")));
  CHECK_FALSE(answers_are_header_sized(items_of("(UID BINARY.PEEK[1])")));
  CHECK_FALSE(answers_are_header_sized(items_of("(UID BODY.PEEK[1.MIME])")));
}

TEST_CASE("answer_message_id reads the header fields, the header or the envelope",
          "[fetch_answer]") {
  CHECK(id_in(answer("BODY[HEADER.FIELDS (FROM MESSAGE-ID)]",
                     "From: a@b\r\nMessage-ID: <m1@host>\r\n\r\n")) == "<m1@host>");
  CHECK(id_in(answer("BODY[HEADER.FIELDS (MESSAGE-ID)]", "\r\n")) == "");
  CHECK(id_in(answer("RFC822.HEADER", "Message-ID: <m2@host>\r\n\r\n")) == "<m2@host>");
  CHECK(id_in(answer("BODY[HEADER]", "To: c@d\r\nMessage-Id:\r\n  <m3@host>\r\n\r\n")) ==
        "<m3@host>");
  CHECK(id_in("* 1 FETCH (UID 9 ENVELOPE (\"Mon, 1 Jan 2024 10:00:00 +0000\" \"s\" NIL NIL NIL "
              "NIL NIL NIL NIL \"<env@host>\"))\r\n") == "<env@host>");
  CHECK(id_in("* 1 FETCH (UID 9 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n") == "");
  // Header fields that do not include Message-ID say nothing about it.
  CHECK_FALSE(id_in(answer("BODY[HEADER.FIELDS (FROM)]", "From: a@b\r\n\r\n")).has_value());
  CHECK_FALSE(id_in("* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n").has_value());
}

TEST_CASE("with_fetch_item adds an item and keeps the client's as written", "[fetch_answer]") {
  const std::string item(message_id_item);
  CHECK(with_fetch_item("a1 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
                        "(X-TUID)])\r\n",
                        item) == "a1 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
                                 "(X-TUID)] BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n");
  CHECK(with_fetch_item("7 uid fetch 5,9 rfc822.size\r\n", item) ==
        "7 uid fetch 5,9 (rfc822.size BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n");
  CHECK(with_fetch_item("7 FETCH 1:3 FAST\r\n", item) ==
        "7 FETCH 1:3 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n");
  CHECK(with_fetch_item("t UID FETCH 1:* (FLAGS RFC822.SIZE) (CHANGEDSINCE 12 VANISHED)\r\n",
                        item) == "t UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS "
                                 "(MESSAGE-ID)]) (CHANGEDSINCE 12 VANISHED)\r\n");
  CHECK_FALSE(with_fetch_item("t UID STORE 1 +FLAGS (\\Seen)\r\n", item));
  CHECK_FALSE(with_fetch_item("t UID FETCH 1:*\r\n", item));
  CHECK_FALSE(with_fetch_item("t FETCH 1 (FLAGS\r\n", item));
}

TEST_CASE("without_attributes leaves the answer the client asked for", "[fetch_answer]") {
  const auto strip = [](const std::string& response) {
    auto parsed = parse_response(response);
    REQUIRE(parsed.ok());
    REQUIRE(parsed->kind == ResponseKind::fetch);
    return without_attributes(response, std::get<FetchData>(parsed->body), answers_message_id_item);
  };
  const std::string ours = "BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\nMessage-ID: <a@b>\r\n\r\n";
  CHECK(strip("* 3 FETCH (UID 7 RFC822.SIZE 120 " + ours + ")\r\n") ==
        "* 3 FETCH (UID 7 RFC822.SIZE 120)\r\n");
  CHECK(strip("* 3 FETCH (" + ours + " UID 7 FLAGS (\\Seen))\r\n") ==
        "* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n");
  CHECK(strip("* 3 FETCH (UID 7 " + ours + " BODY[HEADER.FIELDS (X-TUID)] {2}\r\n\r\n)\r\n") ==
        "* 3 FETCH (UID 7 BODY[HEADER.FIELDS (X-TUID)] {2}\r\n\r\n)\r\n");
  CHECK(strip("* 3 FETCH (UID 7 BODY[HEADER.FIELDS (message-id)] \"\")\r\n") ==
        "* 3 FETCH (UID 7)\r\n");
  // What the client asked for itself stays: other field lists, a partial range.
  const std::string theirs = "* 3 FETCH (UID 7 BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)] {2}\r\n"
                             "\r\n BODY[HEADER.FIELDS (MESSAGE-ID)]<0> {2}\r\n\r\n FLAGS ())\r\n";
  CHECK(strip(theirs) == theirs);
  CHECK(strip("* 3 FETCH (FLAGS (\\Seen))\r\n") == "* 3 FETCH (FLAGS (\\Seen))\r\n");
  // An answer must answer something.
  const std::string alone = "* 3 FETCH (" + ours + ")\r\n";
  CHECK(strip(alone) == alone);

  // Two items added side by side.
  const std::string both = "* 3 FETCH (UID 7 RFC822.SIZE 120 BODYSTRUCTURE (\"TEXT\" \"PLAIN\" "
                           "NIL NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL) FLAGS ())\r\n";
  auto parsed = parse_response(both);
  REQUIRE(parsed.ok());
  CHECK(without_attributes(both, std::get<FetchData>(parsed->body), [](const MsgAtt& att) {
          return att.attr == FetchAttr::rfc822_size || att.attr == FetchAttr::bodystructure;
        }) == "* 3 FETCH (UID 7 FLAGS ())\r\n");
}

TEST_CASE("which answers carry the whole message", "[fetch_answer]") {
  CHECK(answers_may_carry_whole_message(items_of("(UID RFC822.SIZE BODY[])")));
  CHECK(answers_may_carry_whole_message(items_of("(UID BODY.PEEK[]<0.65536>)")));
  CHECK(answers_may_carry_whole_message(items_of("RFC822")));
  CHECK_FALSE(answers_may_carry_whole_message(items_of("(UID BODY.PEEK[]<100.65536>)")));
  CHECK_FALSE(answers_may_carry_whole_message(items_of("(UID BODY.PEEK[TEXT] BODY.PEEK[1])")));
  CHECK_FALSE(answers_may_carry_whole_message(items_of("(UID RFC822.HEADER RFC822.TEXT)")));

  const std::string message = "Subject: s\r\n\r\nbody\r\n";
  const auto whole = [&](const std::string& asked, const std::string& response) {
    auto parsed = parse_response(response);
    REQUIRE(parsed.ok());
    REQUIRE(parsed->kind == ResponseKind::fetch);
    const auto got = whole_message_in(std::get<FetchData>(parsed->body), items_of(asked));
    return got ? std::optional<std::string>(*got) : std::nullopt;
  };
  CHECK(whole("(UID BODY.PEEK[])", answer("BODY[]", message)) == message);
  CHECK(whole("(UID RFC822)", answer("RFC822", message)) == message);
  // Partial: whole only when the answer ends before the octets asked.
  CHECK(whole("(UID BODY.PEEK[]<0.100>)", answer("BODY[]<0>", message)) == message);
  CHECK_FALSE(whole("(UID BODY.PEEK[]<0.10>)", answer("BODY[]<0>", message.substr(0, 10))));
  REQUIRE(message.size() == 20); // as long as asked: maybe cut there
  CHECK_FALSE(whole("(UID BODY.PEEK[]<0.20>)", answer("BODY[]<0>", message)));
  // The largest partial asked counts, and one asked in full wins.
  CHECK(whole("(BODY.PEEK[]<0.10> BODY.PEEK[]<0.100>)", answer("BODY[]<0>", message)) == message);
  CHECK(whole("(BODY.PEEK[]<0.10> BODY.PEEK[])", answer("BODY[]", message)) == message);
  CHECK(whole("(BODY.PEEK[] BODY.PEEK[]<0.10>)", answer("BODY[]", message)) == message);
  CHECK(whole("(BODY.PEEK[]<0.10> RFC822)", answer("RFC822", message)) == message);
  // What was not asked shows nothing, even when it looks like the message.
  CHECK_FALSE(whole("(UID BODY.PEEK[1])", answer("RFC822", message)));
  // Parts, the header, the text, or an answer to another command's items are not the message.
  CHECK_FALSE(whole("(UID BODY.PEEK[TEXT])", answer("BODY[TEXT]", "body\r\n")));
  CHECK_FALSE(whole("(UID BODY.PEEK[1])", answer("BODY[1]", "body\r\n")));
  CHECK_FALSE(whole("(UID FLAGS)", answer("BODY[]", message)));
  CHECK_FALSE(whole("(UID BODY.PEEK[])", "* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n"));
}
