#include "protocol/command.hpp"

#include <array>

namespace icalgate::protocol {
namespace {

struct Known {
  std::string_view name;
  CommandKind kind;
};

constexpr std::array known_commands{
    Known{"CAPABILITY", CommandKind::capability},
    Known{"NOOP", CommandKind::noop},
    Known{"LOGOUT", CommandKind::logout},
    Known{"STARTTLS", CommandKind::starttls},
    Known{"LOGIN", CommandKind::login},
    Known{"AUTHENTICATE", CommandKind::authenticate},
    Known{"ID", CommandKind::id},
    Known{"ENABLE", CommandKind::enable},
    Known{"SELECT", CommandKind::select},
    Known{"EXAMINE", CommandKind::examine},
    Known{"FETCH", CommandKind::fetch},
    Known{"IDLE", CommandKind::idle},
    Known{"APPEND", CommandKind::append},
    Known{"COMPRESS", CommandKind::compress},
    Known{"COPY", CommandKind::copy},
    Known{"MOVE", CommandKind::copy},
};

// The commands that also exist as UID subcommands.
bool has_uid_form(CommandKind kind) {
  return kind == CommandKind::fetch || kind == CommandKind::copy;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// base64 characters with "=" padding only at the end.
bool is_base64(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_base64_char(s[i])) {
    ++i;
  }
  std::size_t pad = 0;
  while (i < s.size() && s[i] == '=') {
    ++i;
    ++pad;
  }
  return i == s.size() && pad <= 2;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// date-time content (RFC 9051): "dd-Mon-yyyy hh:mm:ss +zzzz", day space- or zero-padded.
bool is_date_time(std::string_view s) {
  static constexpr std::array<std::string_view, 12> months{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  constexpr std::string_view shape = "dd-Mmm-dddd dd:dd:dd sdddd";
  if (s.size() != shape.size()) {
    return false;
  }
  if (!(s[0] == ' ' || is_digit(s[0]))) {
    return false;
  }
  for (std::size_t i = 1; i < shape.size(); ++i) {
    const char want = shape[i];
    if (want == 'd' && !is_digit(s[i])) {
      return false;
    }
    if (want == 's' && s[i] != '+' && s[i] != '-') {
      return false;
    }
    if ((want == '-' || want == ' ' || want == ':') && s[i] != want) {
      return false;
    }
  }
  for (const auto month : months) {
    if (imap_iequals(s.substr(3, 3), month)) {
      return true;
    }
  }
  return false;
}

class CommandParser {
 public:
  CommandParser(std::string_view message, const ParseLimits& limits)
      : lx_(message, limits), msg_(message) {}

  Result<Command> run() {
    Command cmd;
    auto tag = lx_.tag();
    if (!tag || !lx_.sp()) {
      return lx_.take_error();
    }
    cmd.tag.assign(*tag);
    auto name = lx_.atom("a command name");
    if (!name) {
      return lx_.take_error();
    }
    cmd.name = imap_upper(*name);
    if (cmd.name == "UID") {
      cmd.uid = true;
      auto sub = lx_.sp() ? lx_.atom("a UID subcommand") : std::nullopt;
      if (!sub) {
        return lx_.take_error();
      }
      cmd.name = imap_upper(*sub);
    }
    cmd.kind = CommandKind::other;
    for (const auto& known : known_commands) {
      if (cmd.name == known.name && (!cmd.uid || has_uid_form(known.kind))) {
        cmd.kind = known.kind;
      }
    }
    bool ok = false;
    switch (cmd.kind) {
    case CommandKind::capability:
    case CommandKind::noop:
    case CommandKind::logout:
    case CommandKind::starttls:
    case CommandKind::idle:
      cmd.args = NoArgs{};
      ok = lx_.end_of_message();
      break;
    case CommandKind::login:
      ok = login(cmd);
      break;
    case CommandKind::authenticate:
      ok = authenticate(cmd);
      break;
    case CommandKind::id:
      ok = id(cmd);
      break;
    case CommandKind::enable:
      ok = enable(cmd);
      break;
    case CommandKind::select:
    case CommandKind::examine:
      ok = select(cmd);
      break;
    case CommandKind::fetch:
      ok = fetch(cmd);
      break;
    case CommandKind::append:
      ok = append(cmd);
      break;
    case CommandKind::compress:
      ok = compress(cmd);
      break;
    case CommandKind::copy:
      ok = copy(cmd);
      break;
    case CommandKind::other:
      return opaque(std::move(cmd));
    }
    if (!ok) {
      return lx_.take_error();
    }
    cmd.raw.assign(msg_);
    return cmd;
  }

 private:
  bool login(Command& cmd) {
    LoginArgs args;
    auto user = lx_.sp() ? lx_.astring() : std::nullopt;
    auto pass = lx_.sp() ? lx_.astring() : std::nullopt;
    if (!user || !pass || !lx_.end_of_message()) {
      return false;
    }
    args.userid = std::move(*user);
    args.password = std::move(*pass);
    cmd.args = std::move(args);
    return true;
  }

  bool authenticate(Command& cmd) {
    AuthenticateArgs args;
    auto mech = lx_.sp() ? lx_.atom("a SASL mechanism") : std::nullopt;
    if (!mech) {
      return false;
    }
    args.mechanism.assign(*mech);
    if (lx_.try_consume(' ')) {
      const std::size_t start = lx_.pos();
      while (!lx_.at_end() && !lx_.at_crlf()) {
        lx_.set_pos(lx_.pos() + 1);
      }
      const std::string_view ir = msg_.substr(start, lx_.pos() - start);
      if (ir.empty() || (ir != "=" && !is_base64(ir))) {
        lx_.set_pos(start);
        return lx_.fail(Errc::syntax, "initial response is neither base64 nor \"=\"");
      }
      args.initial_response.emplace(ir);
    }
    if (!lx_.end_of_message()) {
      return false;
    }
    cmd.args = std::move(args);
    return true;
  }

  bool id(Command& cmd) {
    IdArgs args;
    if (!lx_.sp()) {
      return false;
    }
    if (lx_.try_keyword("NIL")) {
      cmd.args = std::move(args);
      return lx_.end_of_message();
    }
    if (!lx_.expect('(', "NIL or '(' of ID parameters")) {
      return false;
    }
    args.params.emplace();
    if (!lx_.try_consume(')')) {
      while (true) {
        auto key = lx_.string();
        auto value = lx_.sp() ? lx_.nstring() : std::nullopt;
        if (!key || !value) {
          return false;
        }
        if (args.params->size() >= lx_.limits().max_items) {
          return lx_.fail(Errc::too_many, "too many ID parameters");
        }
        args.params->emplace_back(std::move(*key), std::move(*value));
        if (lx_.try_consume(')')) {
          break;
        }
        if (!lx_.expect(' ', "SP or ')' in ID parameters")) {
          return false;
        }
      }
    }
    cmd.args = std::move(args);
    return lx_.end_of_message();
  }

  bool enable(Command& cmd) {
    EnableArgs args;
    do {
      auto cap = lx_.sp() ? lx_.atom("a capability") : std::nullopt;
      if (!cap) {
        return false;
      }
      if (args.capabilities.size() >= lx_.limits().max_items) {
        return lx_.fail(Errc::too_many, "too many capabilities");
      }
      args.capabilities.emplace_back(*cap);
    } while (!lx_.at_crlf() && !lx_.at_end());
    cmd.args = std::move(args);
    return lx_.end_of_message();
  }

  bool select(Command& cmd) {
    SelectArgs args;
    auto mailbox = lx_.sp() ? lx_.astring() : std::nullopt;
    if (!mailbox) {
      return false;
    }
    args.mailbox = std::move(*mailbox);
    if (lx_.try_consume(' ')) {
      if (!lx_.expect('(', "'(' of select parameters")) {
        return false;
      }
      args.params.emplace();
      while (true) {
        auto name = lx_.atom("a select parameter");
        if (!name) {
          return false;
        }
        SelectParam param{std::string(*name), std::nullopt};
        // A value follows a name directly; another name would start with a letter.
        if (lx_.peek() == ' ' &&
            (lx_.peek(1) == '(' || (lx_.peek(1) >= '0' && lx_.peek(1) <= '9'))) {
          lx_.sp();
          auto value = lx_.sexp(1);
          if (!value) {
            return false;
          }
          param.value = std::move(*value);
        }
        if (args.params->size() >= lx_.limits().max_items) {
          return lx_.fail(Errc::too_many, "too many select parameters");
        }
        args.params->push_back(std::move(param));
        if (lx_.try_consume(')')) {
          break;
        }
        if (!lx_.expect(' ', "SP or ')' in select parameters")) {
          return false;
        }
      }
    }
    cmd.args = std::move(args);
    return lx_.end_of_message();
  }

  bool copy(Command& cmd) {
    CopyArgs args;
    auto set = lx_.sp() ? read_sequence_set(lx_) : std::nullopt;
    auto mailbox = set && lx_.sp() ? lx_.astring() : std::nullopt;
    if (!mailbox) {
      return false;
    }
    args.set = std::move(*set);
    args.mailbox = std::move(*mailbox);
    cmd.args = std::move(args);
    return lx_.end_of_message();
  }

  bool fetch(Command& cmd) {
    FetchArgs args;
    auto set = lx_.sp() ? read_sequence_set(lx_) : std::nullopt;
    if (!set || !lx_.sp()) {
      return false;
    }
    args.set = std::move(*set);
    std::size_t consumed = 0;
    auto items = parse_fetch_items(lx_.rest(), &consumed);
    if (!items) {
      return lx_.fail(items.error().code, "fetch attributes: " + items.error().message);
    }
    args.items = std::move(*items);
    lx_.set_pos(lx_.pos() + consumed);
    if (lx_.try_consume(' ')) {
      if (!lx_.expect('(', "'(' of fetch modifiers")) {
        return false;
      }
      bool any = false;
      while (!any || !lx_.try_consume(')')) {
        if (any && !lx_.expect(' ', "SP or ')' in fetch modifiers")) {
          return false;
        }
        any = true;
        const std::size_t at = lx_.pos();
        if (lx_.try_keyword("CHANGEDSINCE")) {
          if (args.changed_since) {
            lx_.set_pos(at);
            return lx_.fail(Errc::syntax, "CHANGEDSINCE given twice");
          }
          auto n = lx_.sp() ? lx_.number("mod-sequence", 0x7fffffffffffffffULL) : std::nullopt;
          if (!n) {
            return false;
          }
          args.changed_since = *n;
        } else if (lx_.try_keyword("VANISHED")) {
          if (args.vanished || !cmd.uid) {
            lx_.set_pos(at);
            return lx_.fail(Errc::syntax, "VANISHED needs UID FETCH and may appear once");
          }
          args.vanished = true;
        } else {
          return lx_.fail(lx_.at_end() ? Errc::incomplete : Errc::unsupported,
                          "unknown fetch modifier");
        }
      }
    }
    cmd.args = std::move(args);
    return lx_.end_of_message();
  }

  bool append(Command& cmd) {
    AppendArgs args;
    auto mailbox = lx_.sp() ? lx_.astring() : std::nullopt;
    if (!mailbox || !lx_.sp()) {
      return false;
    }
    args.mailbox = std::move(*mailbox);
    if (lx_.peek() == '(') {
      auto flags = lx_.flag_list(false);
      if (!flags || !lx_.sp()) {
        return false;
      }
      args.flags = std::move(*flags);
    }
    if (lx_.peek() == '"') {
      const std::size_t at = lx_.pos();
      auto date = lx_.quoted();
      if (!date) {
        return false;
      }
      if (!is_date_time(date->value)) {
        lx_.set_pos(at);
        return lx_.fail(Errc::syntax, "malformed date-time");
      }
      if (!lx_.sp()) {
        return false;
      }
      args.date_time = std::move(date->value);
    }
    if (lx_.try_keyword("UTF8")) {
      args.utf8 = true;
      if (!lx_.sp() || !lx_.expect('(', "'(' after UTF8")) {
        return false;
      }
    }
    const std::size_t at = lx_.pos();
    auto header = lx_.literal_header();
    if (!header) {
      return false;
    }
    if (args.utf8 && !header->literal8) {
      lx_.set_pos(at);
      return lx_.fail(Errc::syntax, "UTF8 APPEND needs a literal8");
    }
    if (header->size > lx_.limits().max_append) {
      lx_.set_pos(at);
      return lx_.fail(Errc::literal_too_large, "APPEND message too large");
    }
    args.literal = *header;
    args.data_offset = lx_.pos();
    if (lx_.at_end()) {
      cmd.args = std::move(args);
      return true; // cut after the announcement: the relay streams the data
    }
    if (msg_.size() - lx_.pos() < header->size) {
      return lx_.fail(Errc::incomplete, "APPEND message data incomplete");
    }
    args.message.emplace(msg_.substr(lx_.pos(), header->size));
    lx_.set_pos(lx_.pos() + header->size);
    if (args.utf8 && !lx_.expect(')', "')' after UTF8 data")) {
      return false;
    }
    if (lx_.try_consume(' ')) {
      const std::size_t start = lx_.pos();
      auto end = scan_message(msg_, start, lx_.limits());
      if (!end) {
        return lx_.fail(end.error().code, end.error().message);
      }
      args.more.assign(msg_.substr(start, *end - start));
      lx_.set_pos(*end);
    }
    cmd.args = std::move(args);
    return lx_.end_of_message();
  }

  bool compress(Command& cmd) {
    auto mech = lx_.sp() ? lx_.atom("a compression mechanism") : std::nullopt;
    if (!mech) {
      return false;
    }
    cmd.args = CompressArgs{std::string(*mech)};
    return lx_.end_of_message();
  }

  Result<Command> opaque(Command cmd) {
    OpaqueArgs args;
    if (!lx_.at_crlf()) {
      if (!lx_.sp()) {
        return lx_.take_error();
      }
    }
    const std::size_t start = lx_.pos();
    auto end = scan_message(msg_, start, lx_.limits());
    if (!end) {
      return end.error();
    }
    args.rest.assign(msg_.substr(start, *end - start));
    cmd.args = std::move(args);
    cmd.raw.assign(msg_);
    return cmd;
  }

  Lexer lx_;
  std::string_view msg_;
};

void write_fetch_items(std::string& out, const FetchItems& items) {
  switch (items.macro) {
  case FetchMacro::all:
    out += "ALL";
    return;
  case FetchMacro::fast:
    out += "FAST";
    return;
  case FetchMacro::full:
    out += "FULL";
    return;
  case FetchMacro::none:
    break;
  }
  out.push_back('(');
  for (std::size_t i = 0; i < items.items.size(); ++i) {
    if (i != 0) {
      out.push_back(' ');
    }
    out += to_string(items.items[i]);
  }
  out.push_back(')');
}

struct ArgWriter {
  std::string& out;

  void operator()(const NoArgs&) const {}
  void operator()(const LoginArgs& a) const {
    out.push_back(' ');
    write_astring(out, a.userid);
    out.push_back(' ');
    write_astring(out, a.password);
  }
  void operator()(const AuthenticateArgs& a) const {
    out.push_back(' ');
    out += a.mechanism;
    if (a.initial_response) {
      out.push_back(' ');
      out += *a.initial_response;
    }
  }
  void operator()(const IdArgs& a) const {
    if (!a.params) {
      out += " NIL";
      return;
    }
    out += " (";
    for (std::size_t i = 0; i < a.params->size(); ++i) {
      if (i != 0) {
        out.push_back(' ');
      }
      write_string(out, (*a.params)[i].first);
      out.push_back(' ');
      write_nstring(out, (*a.params)[i].second);
    }
    out.push_back(')');
  }
  void operator()(const EnableArgs& a) const {
    for (const auto& cap : a.capabilities) {
      out.push_back(' ');
      out += cap;
    }
  }
  void operator()(const SelectArgs& a) const {
    out.push_back(' ');
    write_astring(out, a.mailbox);
    if (a.params) {
      out += " (";
      for (std::size_t i = 0; i < a.params->size(); ++i) {
        if (i != 0) {
          out.push_back(' ');
        }
        out += (*a.params)[i].name;
        if ((*a.params)[i].value) {
          out.push_back(' ');
          write_sexp(out, *(*a.params)[i].value);
        }
      }
      out.push_back(')');
    }
  }
  void operator()(const FetchArgs& a) const {
    out.push_back(' ');
    write_sequence_set(out, a.set);
    out.push_back(' ');
    write_fetch_items(out, a.items);
    if (a.changed_since || a.vanished) {
      out += " (";
      if (a.changed_since) {
        out += "CHANGEDSINCE ";
        write_number(out, *a.changed_since);
      }
      if (a.vanished) {
        out += a.changed_since ? " VANISHED" : "VANISHED";
      }
      out.push_back(')');
    }
  }
  void operator()(const CopyArgs& a) const {
    out.push_back(' ');
    write_sequence_set(out, a.set);
    out.push_back(' ');
    write_astring(out, a.mailbox);
  }
  void operator()(const AppendArgs& a) const {
    out.push_back(' ');
    write_astring(out, a.mailbox);
    if (a.flags) {
      out += " (";
      for (std::size_t i = 0; i < a.flags->size(); ++i) {
        if (i != 0) {
          out.push_back(' ');
        }
        out += (*a.flags)[i];
      }
      out.push_back(')');
    }
    if (a.date_time) {
      out.push_back(' ');
      write_quoted(out, *a.date_time);
    }
    out += a.utf8 ? " UTF8 (" : " ";
    const bool literal8 = a.utf8 || a.literal.literal8;
    if (literal8) {
      out.push_back('~');
    }
    out.push_back('{');
    write_number(out, a.message ? a.message->size() : a.literal.size);
    if (a.literal.non_sync) {
      out.push_back('+');
    }
    out += "}\r\n";
    if (!a.message) {
      return; // the announcement ends the message; the data is streamed after it
    }
    out += *a.message;
    if (a.utf8) {
      out.push_back(')');
    }
    if (!a.more.empty()) {
      out.push_back(' ');
      out += a.more;
    }
  }
  void operator()(const CompressArgs& a) const {
    out.push_back(' ');
    out += a.mechanism;
  }
  void operator()(const OpaqueArgs& a) const {
    if (!a.rest.empty()) {
      out.push_back(' ');
      out += a.rest;
    }
  }
};

} // namespace

Result<Command> parse_command(std::string_view message, const ParseLimits& limits) {
  return CommandParser(message, limits).run();
}

std::string serialize_canonical(const Command& command) {
  std::string out = command.tag;
  out += command.uid ? " UID " : " ";
  out += command.name;
  std::visit(ArgWriter{out}, command.args);
  const auto* append = std::get_if<AppendArgs>(&command.args);
  if (append == nullptr || append->message) {
    out += "\r\n";
  }
  return out;
}

std::string serialize(const Command& command) {
  return command.raw.empty() ? serialize_canonical(command) : command.raw;
}

bool is_inbox(const IString& mailbox) {
  return imap_iequals(mailbox.value, "INBOX");
}

std::string canonical_mailbox(const IString& mailbox) {
  return is_inbox(mailbox) ? std::string("INBOX") : mailbox.value;
}

bool is_idle_done(std::string_view line) {
  return imap_iequals(line, "DONE\r\n");
}

Result<AuthContinuation> parse_auth_continuation(std::string_view line) {
  if (line.size() < 2 || line.substr(line.size() - 2) != "\r\n") {
    return make_error(Errc::incomplete, "authentication line does not end with CRLF");
  }
  const std::string_view text = line.substr(0, line.size() - 2);
  AuthContinuation out;
  if (text == "*") {
    out.cancel = true;
    return out;
  }
  if (!is_base64(text)) {
    return make_error(Errc::syntax, "authentication line is not base64");
  }
  out.data.assign(text);
  return out;
}

} // namespace icalgate::protocol
