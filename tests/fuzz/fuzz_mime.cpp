// Parses arbitrary bytes as a message and computes every answer for every part, checking
// invariants that must hold whatever the input: RFC822.SIZE equals the length of BODY[],
// HEADER + TEXT equals BODY[], every part lies inside the message, and the renderer never
// fails except with the two NO answers that Dovecot also gives.

#include "protocol/fetch_item.hpp"
#include "protocol/fetch_render.hpp"
#include "protocol/mime/bodystructure.hpp"
#include "protocol/mime/envelope.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/mime/section.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using icalgate::protocol::SectionSpec;
namespace mime = icalgate::protocol::mime;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

// Visits every part with the section path IMAP gives it and checks that the path leads back
// to the same part and that its sections have the sizes the parser recorded.
void visit(const mime::Message& msg, const mime::MimePart& part, std::vector<std::uint32_t>& path,
           unsigned& budget) {
  check(part.offset <= part.body_offset());
  check(part.body_offset() <= part.end_offset());
  check(part.end_offset() <= msg.raw().size());
  check(part.body_size.virtual_size >= part.body_size.physical);
  if (budget == 0) {
    return;
  }
  --budget;
  if (!path.empty()) {
    check(mime::find_part(msg, path) == &part);
    SectionSpec s;
    s.part = path;
    // BODY[n] and BODY[n.MIME] are the part's body and header, CRLF-converted
    check(mime::body_section(msg, s).size() == part.body_size.virtual_size);
    s.text = SectionSpec::Text::mime;
    check(mime::body_section(msg, s).size() == part.header_size.virtual_size);
    s.text = SectionSpec::Text::header_fields;
    s.fields = {"Content-Type", "from"};
    (void)mime::body_section(msg, s);
    s.text = SectionSpec::Text::none;
    s.fields.clear();
    const mime::BinaryResult bin = mime::binary_section(msg, s);
    check(bin.status != mime::BinaryResult::Status::ok || bin.data.size() <= 2 * msg.raw().size());
  }
  if (part.is(mime::kMultipart)) {
    std::uint32_t n = 1;
    for (const mime::MimePart& child : part.children) {
      path.push_back(n++);
      visit(msg, child, path, budget);
      path.pop_back();
    }
    return;
  }
  if (!part.is(mime::kMessageRfc822) || part.children.empty()) {
    return;
  }
  // message/rfc822: the encapsulated message's parts continue this part's number (the
  // whole message counts as part 1 when it is itself message/rfc822)
  const mime::MimePart& inner = part.children.front();
  const bool at_root = path.empty();
  if (at_root) {
    path.push_back(1);
  }
  if (inner.is(mime::kMultipart)) {
    std::uint32_t n = 1;
    for (const mime::MimePart& child : inner.children) {
      path.push_back(n++);
      visit(msg, child, path, budget);
      path.pop_back();
    }
  } else {
    path.push_back(1);
    visit(msg, inner, path, budget);
    path.pop_back();
  }
  if (at_root) {
    path.pop_back();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = mime::parse_message(bytes);
  check(parsed.ok());
  const mime::Message& msg = *parsed;

  const std::string whole = mime::body_section(msg, SectionSpec{});
  check(whole.size() == msg.virtual_size());
  SectionSpec header;
  header.text = SectionSpec::Text::header;
  SectionSpec text;
  text.text = SectionSpec::Text::text;
  check(mime::body_section(msg, header) + mime::body_section(msg, text) == whole);

  const std::string bs = mime::bodystructure(msg, true);
  check(bs.size() >= 2 && bs.front() == '(' && bs.back() == ')');
  (void)mime::bodystructure(msg, false);
  const std::string env = mime::envelope_string(msg);
  check(env.size() >= 2 && env.front() == '(' && env.back() == ')');

  std::vector<std::uint32_t> path;
  unsigned budget = 64;
  visit(msg, msg.root(), path, budget);

  // The stored form Dovecot would keep must parse to the same virtual size.
  auto stored = mime::parse_message(mime::dovecot_stored_form(bytes));
  check(stored.ok());

  auto items = icalgate::protocol::parse_fetch_items(
      "(RFC822.SIZE BODYSTRUCTURE ENVELOPE BODY.PEEK[1.MIME] BINARY.PEEK[1]<0.100> "
      "BINARY.SIZE[1] BODY[HEADER.FIELDS.NOT (Subject)] BODY[]<3.50>)");
  if (items.ok()) {
    auto r = icalgate::protocol::render_fetch(msg, *items);
    check(r.ok() || r.error().message.rfind("NO [", 0) == 0);
  }
  return 0;
}
