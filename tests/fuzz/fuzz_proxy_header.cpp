// Parses arbitrary bytes as a PROXY protocol header and checks what a listener relies on:
// the header is judged on its own bytes only (what follows never matters), every prefix of
// a complete header is Incomplete with an honest lower bound, and what parses survives the
// serializers: parse(make(parse(x))) gives the same header, in its own version and, where
// the other version can express it, in that one too.

#include "protocol/proxy_header.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>

using namespace icalgate::protocol;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "proxy header check failed: %s\n", what);
  std::abort();
}

// The header parsed from bytes made by a serializer; aborts unless it is complete and
// consumes exactly those bytes.
ProxyHeader reparse(std::span<const std::uint8_t> made) {
  auto again = parse_proxy_header(made);
  const auto* complete = std::get_if<ProxyComplete>(&again);
  if (complete == nullptr) {
    fail("serialized header does not parse");
  }
  if (complete->consumed != made.size()) {
    fail("serialized header not consumed exactly");
  }
  return complete->header;
}

ProxyHeader reparse(const std::string& made) {
  return reparse(std::span(reinterpret_cast<const std::uint8_t*>(made.data()), made.size()));
}

void check_prefixes(std::span<const std::uint8_t> input, std::size_t consumed) {
  // Every prefix for short headers; a sample for long ones keeps the fuzzer fast.
  const std::size_t step = consumed <= 128 ? 1 : consumed / 64;
  for (std::size_t n = 0; n < consumed; n += step) {
    auto partial = parse_proxy_header(input.first(n));
    const auto* incomplete = std::get_if<ProxyIncomplete>(&partial);
    if (incomplete == nullptr) {
      fail("a prefix of a valid header is not Incomplete");
    }
    if (incomplete->at_least == 0 || n + incomplete->at_least > consumed) {
      fail("Incomplete::at_least is not a lower bound");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  auto result = parse_proxy_header(input);
  if (const auto* incomplete = std::get_if<ProxyIncomplete>(&result)) {
    if (incomplete->at_least == 0) {
      fail("Incomplete asks for no bytes");
    }
    return 0;
  }
  const auto* complete = std::get_if<ProxyComplete>(&result);
  if (complete == nullptr) {
    return 0;
  }
  const ProxyHeader& header = complete->header;
  if (complete->consumed == 0 || complete->consumed > size) {
    fail("consumed outside the input");
  }
  auto alone = parse_proxy_header(input.first(complete->consumed));
  if (!(alone == result)) {
    fail("bytes after the header changed the result");
  }
  check_prefixes(input, complete->consumed);

  if (header.version == 1) {
    auto line = make_proxy_header_v1(header);
    if (!line) {
      fail("make_proxy_header_v1 rejects a parsed v1 header");
    }
    if (!(reparse(*line) == header)) {
      fail("v1 round trip differs");
    }
    auto binary = make_proxy_header_v2(header);
    if (!binary) {
      fail("make_proxy_header_v2 rejects a parsed v1 header");
    }
    ProxyHeader as_v2 = reparse(*binary);
    as_v2.version = 1;
    if (!(as_v2 == header)) {
      fail("v1 -> v2 differs");
    }
  } else {
    auto binary = make_proxy_header_v2(header);
    if (!binary) {
      fail("make_proxy_header_v2 rejects a parsed v2 header");
    }
    if (!(reparse(*binary) == header)) {
      fail("v2 round trip differs");
    }
    const bool v1_expressible =
        header.command == ProxyCommand::proxy && header.tlvs.empty() &&
        ((header.has_client_address() && header.transport == ProxyTransport::stream) ||
         header.family == ProxyFamily::unspec);
    if (v1_expressible) {
      auto line = make_proxy_header_v1(header);
      if (!line) {
        fail("make_proxy_header_v1 rejects an expressible header");
      }
      ProxyHeader as_v1 = reparse(*line);
      as_v1.version = 2;
      if (!(as_v1 == header)) {
        fail("v2 -> v1 differs");
      }
    }
  }
  return 0;
}
