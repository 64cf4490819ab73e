// The relay's bounded classification (calendar/owa_link.hpp) on arbitrary mail, with the
// sections cut as a server sends them (protocol/mime/section.hpp). Checked: what the start of
// BODY[1] asked along decides, the planned probes of the first text body decide alike (the
// first part found within section 1 is that body), and a request for more asks for more.

#include "calendar/owa_link.hpp"
#include "protocol/mime/bodystructure.hpp"
#include "protocol/mime/message.hpp"
#include "protocol/mime/section.hpp"
#include "protocol/response.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace icalgate;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "probe check failed: %s\n", what);
  std::abort();
}

std::string section(const protocol::mime::Message& msg, std::vector<std::uint32_t> part) {
  protocol::SectionSpec spec;
  spec.part = std::move(part);
  return protocol::mime::body_section(msg, spec);
}

// BODY.PEEK[section]<0.n> with n growing as classify_prefix() asks, as the relay probes.
calendar::Verdict probed(const calendar::Probe& probe, std::string_view body) {
  std::uint64_t n = probe.octets;
  for (int round = 0; round < 8; ++round) {
    const std::string_view got = body.substr(0, n);
    const auto v = calendar::classify_prefix(probe, got, got.size() < n);
    if (v.verdict != calendar::Verdict::need_more) {
      return v.verdict;
    }
    if (v.next_octets <= n) {
      fail("need_more without asking for more");
    }
    n = v.next_octets;
  }
  fail("no decision within the probe limit");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto msg = protocol::mime::parse_message(std::string(reinterpret_cast<const char*>(data), size));
  if (!msg) {
    return 0;
  }
  const std::string line =
      "* 1 FETCH (BODYSTRUCTURE " + protocol::mime::bodystructure(*msg, true) + ")\r\n";
  auto response = protocol::parse_response(line);
  if (!response) {
    fail("the model's BODYSTRUCTURE does not parse");
  }
  const auto& atts = std::get<protocol::FetchData>(response->body).atts;
  if (atts.size() != 1) {
    fail("one attribute expected");
  }
  const auto plan = calendar::plan_probe(atts.front().sexp);
  if (!plan.probe) {
    return 0;
  }
  const calendar::Probe& probe = *plan.probe;
  const std::string one = section(*msg, {1});
  const std::string body = section(*msg, probe.section);
  // The relay asks a KiB of section 1 where bytes count, the first probe's size where round
  // trips do (FetchInterceptor::section_one_octets()).
  for (const std::uint64_t asked : {calendar::kAlongOctets, calendar::kProbeOctets}) {
    const std::string_view along = std::string_view(one).substr(0, asked);
    const auto v = calendar::classify_section_one(probe, along, along.size() < asked);
    if (v.verdict == calendar::Verdict::need_more) {
      if (v.next_octets != 0 && v.next_octets <= probe.octets) {
        fail("need_more asks for no more than the planned probe");
      }
      continue;
    }
    // Fewer bytes may still decode where more do not: a `yes` either way is only a candidate,
    // which classify() confirms on the whole message before anything is rewritten.
    const auto planned = probed(probe, body);
    // A KiB of section 1 shows no more of the part than the planned probes; the first probe's
    // size may show more (a whole part that does not decode, where a prefix still did).
    if (v.verdict == calendar::Verdict::no && planned != calendar::Verdict::no &&
        (asked == calendar::kAlongOctets || calendar::classify(*msg).link)) {
      fail("section 1 asked along rules out what the planned probes would not");
    }
    if (v.verdict == calendar::Verdict::yes && planned != calendar::Verdict::yes &&
        calendar::classify(*msg).link) {
      fail("section 1 asked along and the planned probes decide an invitation differently");
    }
  }
  return 0;
}
