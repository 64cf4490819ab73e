#pragma once
// Typed IMAP commands (RFC 9051 and RFC 3501 grammars) for what the gateway must understand;
// every other command is kept opaque. A parser takes ONE complete message: the line with
// every literal's data inline, up to and including the final CRLF.
//
// Every parsed Command keeps its input in `raw`, and serialize() returns it unchanged. Code
// that builds or edits a Command clears `raw` (or calls serialize_canonical()); the canonical
// form parses back to an equal Command. Equality ignores `raw` and other byte positions.

#include "protocol/fetch_item.hpp"
#include "protocol/lexer.hpp"
#include "protocol/result.hpp"
#include "protocol/sequence_set.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace icalgate::protocol {

enum class CommandKind {
  capability,
  noop,
  logout,
  starttls,
  login,
  authenticate,
  id,
  enable,
  select,
  examine,
  fetch, // FETCH and UID FETCH
  idle,
  append,
  compress,
  copy,  // COPY and MOVE (RFC 6851), with or without UID; `name` tells which
  other, // opaque, including UID subcommands other than FETCH, COPY and MOVE
};

// CAPABILITY, NOOP, LOGOUT, STARTTLS, IDLE.
struct NoArgs {
  friend bool operator==(const NoArgs&, const NoArgs&) = default;
};

struct LoginArgs {
  IString userid;
  IString password;

  friend bool operator==(const LoginArgs&, const LoginArgs&) = default;
};

struct AuthenticateArgs {
  std::string mechanism; // as written, e.g. "XOAUTH2"
  // SASL-IR (RFC 4959): the base64 text, or "=" for an empty initial response.
  std::optional<std::string> initial_response;

  friend bool operator==(const AuthenticateArgs&, const AuthenticateArgs&) = default;
};

struct IdArgs {
  // nullopt is "ID NIL"; field names are strings, values nstrings (RFC 2971).
  std::optional<std::vector<std::pair<IString, NString>>> params;

  friend bool operator==(const IdArgs&, const IdArgs&) = default;
};

struct EnableArgs {
  std::vector<std::string> capabilities;

  friend bool operator==(const EnableArgs&, const EnableArgs&) = default;
};

// A select-param (RFC 4466): a name with an optional value, e.g. CONDSTORE or
// QRESYNC (67890007 20050715194045000 41,43:211,214:541).
struct SelectParam {
  std::string name;
  std::optional<SExpr> value;

  friend bool operator==(const SelectParam&, const SelectParam&) = default;
};

struct SelectArgs {
  IString mailbox; // see is_inbox()
  std::optional<std::vector<SelectParam>> params;

  friend bool operator==(const SelectArgs&, const SelectArgs&) = default;
};

struct FetchArgs {
  SequenceSet set;
  FetchItems items;
  std::optional<std::uint64_t> changed_since; // (CHANGEDSINCE n), RFC 7162
  bool vanished = false;                      // (VANISHED), UID FETCH only

  friend bool operator==(const FetchArgs&, const FetchArgs&) = default;
};

struct CopyArgs {
  SequenceSet set;
  IString mailbox; // the destination; see is_inbox()

  friend bool operator==(const CopyArgs&, const CopyArgs&) = default;
};

struct AppendArgs {
  IString mailbox;
  std::optional<std::vector<std::string>> flags;
  std::optional<std::string> date_time; // the content of the quoted date-time
  bool utf8 = false;                    // "UTF8 (~{n}...)" (RFC 6855)
  LiteralHeader literal;                // the message literal's announcement
  // The message data when the input carried it; nullopt when the input ended right after the
  // announcement so that the relay can stream the data.
  std::optional<std::string> message;
  // MULTIAPPEND (RFC 3502): what follows the first message, kept opaque (without the leading
  // SP and the final CRLF).
  std::string more;
  std::size_t data_offset = 0; // offset of the message data in the input; not compared

  friend bool operator==(const AppendArgs& a, const AppendArgs& b) {
    return a.mailbox == b.mailbox && a.flags == b.flags && a.date_time == b.date_time &&
           a.utf8 == b.utf8 && a.literal.size == b.literal.size &&
           a.literal.non_sync == b.literal.non_sync && a.literal.literal8 == b.literal.literal8 &&
           a.message == b.message && a.more == b.more;
  }
};

struct CompressArgs {
  std::string mechanism; // e.g. "DEFLATE"

  friend bool operator==(const CompressArgs&, const CompressArgs&) = default;
};

struct OpaqueArgs {
  std::string rest; // everything after "NAME " up to the final CRLF, literals inline

  friend bool operator==(const OpaqueArgs&, const OpaqueArgs&) = default;
};

using CommandArgs =
    std::variant<NoArgs, LoginArgs, AuthenticateArgs, IdArgs, EnableArgs, SelectArgs, FetchArgs,
                 CopyArgs, AppendArgs, CompressArgs, OpaqueArgs>;

struct Command {
  std::string tag;
  CommandKind kind = CommandKind::other;
  bool uid = false; // "UID <name> ..."
  std::string name; // upper case; for UID commands the subcommand
  CommandArgs args;
  std::string raw; // the parsed input; empty for constructed commands

  friend bool operator==(const Command& a, const Command& b) {
    return a.tag == b.tag && a.kind == b.kind && a.uid == b.uid && a.name == b.name &&
           a.args == b.args;
  }
};

Result<Command> parse_command(std::string_view message, const ParseLimits& limits = {});
// `raw` if the command was parsed and not cleared, else serialize_canonical().
std::string serialize(const Command& command);
std::string serialize_canonical(const Command& command);

// INBOX is case-insensitive (RFC 9051 §5.1).
bool is_inbox(const IString& mailbox);
// The mailbox's name with INBOX in upper case: one spelling per mailbox.
std::string canonical_mailbox(const IString& mailbox);

// The client's "DONE\r\n" that ends IDLE (case-insensitive).
bool is_idle_done(std::string_view line);

// A client line answering an AUTHENTICATE continuation: base64 or "*" to cancel.
struct AuthContinuation {
  bool cancel = false;
  std::string data; // the base64 text, possibly empty

  friend bool operator==(const AuthContinuation&, const AuthContinuation&) = default;
};
Result<AuthContinuation> parse_auth_continuation(std::string_view line);

} // namespace icalgate::protocol
