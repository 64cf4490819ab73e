#pragma once
// Typed IMAP server responses (RFC 9051 and RFC 3501 grammars). A parser takes ONE complete
// message: the line with every literal's data inline, up to and including the final CRLF.
//
// Every parsed Response keeps its input in `raw`, and serialize() returns it unchanged. Code
// that builds or edits a Response clears `raw` (or calls serialize_canonical()); the canonical
// form parses back to an equal Response. Equality ignores `raw` and byte ranges.

#include "protocol/fetch_item.hpp"
#include "protocol/lexer.hpp"
#include "protocol/result.hpp"
#include "protocol/sequence_set.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace icalgate::protocol {

enum class Status { ok, no, bad, preauth, bye };

struct ResponseCode {
  std::string name; // upper case, e.g. "UIDVALIDITY"
  std::string args; // the raw text after "NAME " up to "]"; empty when there is none

  // Typed views of `args`, filled by the parser for the codes that have them (not compared):
  std::vector<std::string> list;       // CAPABILITY: capabilities; PERMANENTFLAGS: flags
  std::optional<std::uint64_t> number; // UIDVALIDITY, UIDNEXT, UNSEEN, HIGHESTMODSEQ

  friend bool operator==(const ResponseCode& a, const ResponseCode& b) {
    return a.name == b.name && a.args == b.args;
  }
};

// "+ text" or "+ base64"; `text` is everything after "+ " up to the CRLF.
struct ContinuationRequest {
  std::string text;

  friend bool operator==(const ContinuationRequest&, const ContinuationRequest&) = default;
};

// Tagged OK/NO/BAD, or untagged OK/NO/BAD/PREAUTH/BYE.
struct StatusResponse {
  Status status = Status::ok;
  std::optional<ResponseCode> code;
  std::string text;

  friend bool operator==(const StatusResponse&, const StatusResponse&) = default;
};

struct CapabilityData {
  std::vector<std::string> capabilities; // as written

  friend bool operator==(const CapabilityData&, const CapabilityData&) = default;
};

// "* n EXISTS", "* n EXPUNGE", "* n RECENT" (Response::kind tells which).
struct MessageCount {
  std::uint32_t number = 0;

  friend bool operator==(const MessageCount&, const MessageCount&) = default;
};

struct VanishedData {
  bool earlier = false; // "(EARLIER)"
  SequenceSet uids;

  friend bool operator==(const VanishedData&, const VanishedData&) = default;
};

struct FlagsData {
  std::vector<std::string> flags;

  friend bool operator==(const FlagsData&, const FlagsData&) = default;
};

// One msg-att of a FETCH response.
struct MsgAtt {
  std::optional<FetchAttr> attr;       // nullopt: an attribute this parser does not know
  std::string name;                    // upper-case name of an unknown attribute only
  SectionSpec section;                 // body_section, binary, binary_size
  std::optional<std::uint64_t> origin; // "BODY[...]<origin>"
  std::vector<std::string> flags;      // FLAGS
  std::uint64_t number = 0;            // UID, RFC822.SIZE, MODSEQ, BINARY.SIZE
  // INTERNALDATE, SAVEDATE, EMAILID, THREADID (atom form), BODY[...], BINARY[...], RFC822*.
  NString string;
  SExpr sexp; // ENVELOPE, BODY, BODYSTRUCTURE, unknown attributes

  // Where the attribute sits in the parsed message (not compared): the whole attribute from
  // its name through its value; the value as written (quotes and literal announcement
  // included); and the content bytes of a string value (equal to `value` for other kinds).
  ByteRange whole;
  ByteRange value;
  ByteRange content;

  friend bool operator==(const MsgAtt& a, const MsgAtt& b) {
    return a.attr == b.attr && a.name == b.name && a.section == b.section && a.origin == b.origin &&
           a.flags == b.flags && a.number == b.number && a.string == b.string && a.sexp == b.sexp;
  }
};

struct FetchData {
  std::uint32_t number = 0; // message sequence number
  std::vector<MsgAtt> atts;

  friend bool operator==(const FetchData&, const FetchData&) = default;
};

// Untagged data this parser keeps opaque (LIST, STATUS, SEARCH, ESEARCH, ENABLED, ID, ...).
struct OtherData {
  std::optional<std::uint32_t> number; // "* 3 NAME ..."
  std::string name;                    // upper case
  std::string rest;                    // after "NAME " up to the final CRLF, literals inline

  friend bool operator==(const OtherData&, const OtherData&) = default;
};

enum class ResponseKind {
  continuation,
  status, // tagged when Response::tag is not empty
  capability,
  exists,
  expunge,
  recent,
  vanished,
  flags,
  fetch,
  other,
};

using ResponseBody = std::variant<ContinuationRequest, StatusResponse, CapabilityData, MessageCount,
                                  VanishedData, FlagsData, FetchData, OtherData>;

struct Response {
  ResponseKind kind = ResponseKind::other;
  std::string tag; // empty for untagged responses and continuation requests
  ResponseBody body;
  std::string raw; // the parsed input; empty for constructed responses

  friend bool operator==(const Response& a, const Response& b) {
    return a.kind == b.kind && a.tag == b.tag && a.body == b.body;
  }
};

Result<Response> parse_response(std::string_view message, const ParseLimits& limits = {});
// `raw` if the response was parsed and not cleared, else serialize_canonical().
std::string serialize(const Response& response);
std::string serialize_canonical(const Response& response);
// One msg-att in canonical form, e.g. "BODY[1]<0> {3}\r\nabc".
std::string serialize_canonical(const MsgAtt& att);

} // namespace icalgate::protocol
