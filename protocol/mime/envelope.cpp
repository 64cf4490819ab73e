#include "protocol/mime/envelope.hpp"

#include "protocol/mime/imap_string.hpp"
#include "protocol/mime/rfc822_lexer.hpp"

namespace icalgate::protocol::mime {

namespace {

// Bounds the work on a hostile address header.
constexpr std::size_t kMaxAddresses = 10000;

class AddressParser {
 public:
  explicit AddressParser(std::string_view value) : lex_(value, true) {}

  std::vector<Address> run() {
    if (lex_.skip_lwsp() > 0) {
      parse_address_list();
    }
    return std::move(list_);
  }

 private:
  struct Pending {
    Address addr;
    bool invalid = false;
  };

  bool more() const { return !lex_.at_end(); }

  void add_address() {
    if (list_.size() < kMaxAddresses) {
      list_.push_back(std::move(cur_.addr));
    }
    cur_ = Pending{};
  }

  void add_fixed_address() {
    if (!cur_.addr.mailbox) {
      cur_.addr.mailbox = "MISSING_MAILBOX";
      cur_.invalid = true;
    }
    if (!cur_.addr.domain || cur_.addr.domain->empty()) {
      cur_.addr.domain = "MISSING_DOMAIN";
      cur_.invalid = true;
    }
    add_address();
  }

  int parse_local_part() {
    str_.clear();
    const int ret = lex_.peek() == '"' ? lex_.parse_quoted_string(str_) : lex_.parse_dot_atom(str_);
    if (ret < 0) {
      return -1;
    }
    cur_.addr.mailbox = cstr(str_);
    return ret;
  }

  int parse_domain() {
    str_.clear();
    const int ret = lex_.parse_domain(str_);
    if (ret < 0) {
      return -1;
    }
    cur_.addr.domain = cstr(str_);
    return ret;
  }

  int parse_domain_list() {
    str_.clear();
    for (;;) {
      if (!more()) {
        return 0;
      }
      if (lex_.peek() != '@') {
        break;
      }
      if (!str_.empty()) {
        str_ += ',';
      }
      str_ += '@';
      const int ret = lex_.parse_domain(str_);
      if (ret <= 0) {
        return ret;
      }
      while (lex_.skip_lwsp() > 0 && lex_.peek() == ',') {
        lex_.advance();
      }
    }
    cur_.addr.route = cstr(str_);
    return 1;
  }

  int parse_angle_addr() {
    lex_.advance(); // '<'
    if (lex_.skip_lwsp() <= 0) {
      return -1;
    }
    if (lex_.peek() == '@') {
      if (parse_domain_list() > 0 && lex_.peek() == ':') {
        lex_.advance();
      } else {
        cur_.addr.route = "INVALID_ROUTE";
        if (!more()) {
          return -1;
        }
      }
      if (lex_.skip_lwsp() <= 0) {
        return -1;
      }
    }
    if (lex_.peek() != '>') {
      if (parse_local_part() <= 0) {
        return -1;
      }
      if (lex_.peek() == '@') {
        if (parse_domain() <= 0) {
          return -1;
        }
      }
    }
    if (lex_.peek() != '>') {
      return -1;
    }
    lex_.advance();
    return lex_.skip_lwsp();
  }

  int parse_name_addr() {
    str_.clear();
    if (lex_.parse_phrase(str_) <= 0 || lex_.peek() != '<') {
      return -1;
    }
    std::string name = cstr(str_);
    if (!name.empty()) {
      cur_.addr.name = std::move(name);
    }
    if (parse_angle_addr() < 0) {
      cur_.addr.domain = "SYNTAX_ERROR";
      cur_.invalid = true;
    }
    return more() ? 1 : 0;
  }

  int parse_addr_spec() {
    lex_.clear_last_comment();
    const bool quoted_string = lex_.peek() == '"';
    int ret = parse_local_part();
    int ret2 = -2;
    if (ret <= 0) {
      cur_.invalid = true;
    }
    if (ret != 0 && more() && lex_.peek() == '@') {
      ret2 = parse_domain();
      if (ret2 <= 0) {
        ret = ret2;
      }
    }
    if (!lex_.last_comment().empty()) {
      cur_.addr.name = cstr(lex_.last_comment());
    } else if (ret2 == -2) {
      // A lone word is a mailbox; a word followed by more words is a display name.
      str_ += ' ';
      const std::size_t orig_len = str_.size();
      (void)lex_.parse_phrase(str_);
      if (str_.size() != orig_len) {
        cur_.addr.mailbox.reset();
        cur_.addr.name = cstr(str_);
      } else if (!quoted_string) {
        cur_.addr.domain = "";
      }
      cur_.invalid = true;
      ret = -1;
    }
    return ret;
  }

  int parse_mailbox() {
    const std::size_t start = lex_.pos();
    int ret = parse_name_addr();
    if (ret < 0) {
      lex_.set_pos(start);
      ret = parse_addr_spec();
      if (cur_.invalid && !cur_.addr.name && cur_.addr.mailbox && !cur_.addr.domain) {
        cur_.addr.name = std::move(cur_.addr.mailbox);
        cur_.addr.mailbox.reset();
      }
    }
    if (ret < 0) {
      cur_.invalid = true;
    }
    add_fixed_address();
    return ret;
  }

  int parse_group() {
    str_.clear();
    if (lex_.parse_phrase(str_) <= 0 || lex_.peek() != ':') {
      return -1;
    }
    lex_.advance();
    int ret = lex_.skip_lwsp();
    cur_.addr.mailbox = cstr(str_);
    add_address();
    if (ret > 0 && lex_.peek() != ';') {
      for (std::size_t count = 0; count < kMaxAddresses; ++count) {
        (void)parse_mailbox(); // a broken mailbox does not end the group
        if (!more() || lex_.peek() != ',') {
          break;
        }
        lex_.advance();
        if (lex_.skip_lwsp() <= 0) {
          ret = -1;
          break;
        }
      }
    }
    if (ret >= 0) {
      if (!more() || lex_.peek() != ';') {
        ret = -1;
      } else {
        lex_.advance();
        ret = lex_.skip_lwsp();
      }
    }
    add_address();
    return ret == 0 ? 0 : 1;
  }

  int parse_address() {
    const std::size_t start = lex_.pos();
    int ret = parse_group();
    if (ret < 0) {
      lex_.set_pos(start);
      cur_ = Pending{};
      ret = parse_mailbox();
    }
    return ret;
  }

  void parse_address_list() {
    for (std::size_t count = 0; count < kMaxAddresses; ++count) {
      if (parse_address() == 0) {
        break;
      }
      if (!more() || lex_.peek() != ',') {
        break;
      }
      lex_.advance();
      const int ret = lex_.skip_lwsp();
      if (ret <= 0) {
        if (ret < 0) {
          add_fixed_address();
        }
        break;
      }
    }
  }

  static std::string cstr(const std::string& s) { return s.substr(0, s.find('\0')); }

  Rfc822Lexer lex_;
  Pending cur_;
  std::string str_;
  std::vector<Address> list_;
};

void write_addresses(std::string& out, const std::optional<std::vector<Address>>& list) {
  if (!list || list->empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (const Address& a : *list) {
    out += '(';
    if (!a.name) {
      out += "NIL";
    } else {
      append_string_for_humans(out, *a.name);
    }
    out += ' ';
    append_nstring_nolf(out, a.route);
    out += ' ';
    append_nstring_nolf(out, a.mailbox);
    out += ' ';
    append_nstring_nolf(out, a.domain);
    out += ')';
  }
  out += ')';
}

std::string cstring(std::string s) {
  const auto nul = s.find('\0');
  if (nul != std::string::npos) {
    s.resize(nul);
  }
  return s;
}

// Repeated address fields add to the list (the last Date, Subject etc. win instead).
void append_addresses(std::optional<std::vector<Address>>& list, const std::string& value) {
  std::vector<Address> parsed = parse_address_list(value);
  if (!list) {
    list = std::move(parsed);
    return;
  }
  if (list->size() + parsed.size() <= kMaxAddresses) {
    list->insert(list->end(), parsed.begin(), parsed.end());
  }
}

} // namespace

std::vector<Address> parse_address_list(std::string_view value) {
  return AddressParser(value).run();
}

Envelope read_envelope(std::string_view raw, const MimePart& part) {
  Envelope env;
  for (const HeaderField& field : part.headers) {
    const std::string_view name = header_name(raw, field);
    auto value = [&] { return header_full_value(raw, field); };
    if (iequals(name, "Date")) {
      env.date = cstring(value());
    } else if (iequals(name, "Subject")) {
      env.subject = cstring(value());
    } else if (iequals(name, "Message-ID")) {
      env.message_id = cstring(value());
    } else if (iequals(name, "In-Reply-To")) {
      env.in_reply_to = cstring(value());
    } else if (iequals(name, "From")) {
      append_addresses(env.from, value());
    } else if (iequals(name, "Sender")) {
      append_addresses(env.sender, value());
    } else if (iequals(name, "Reply-To")) {
      append_addresses(env.reply_to, value());
    } else if (iequals(name, "To")) {
      append_addresses(env.to, value());
    } else if (iequals(name, "Cc")) {
      append_addresses(env.cc, value());
    } else if (iequals(name, "Bcc")) {
      append_addresses(env.bcc, value());
    }
  }
  return env;
}

void write_envelope(std::string& out, const Envelope& env) {
  append_nstring_nolf(out, env.date);
  out += ' ';
  if (!env.subject) {
    out += "NIL";
  } else {
    append_string_for_humans(out, *env.subject);
  }
  out += ' ';
  write_addresses(out, env.from);
  out += ' ';
  const bool sender_empty = !env.sender || env.sender->empty();
  write_addresses(out, sender_empty ? env.from : env.sender);
  out += ' ';
  const bool reply_to_empty = !env.reply_to || env.reply_to->empty();
  write_addresses(out, reply_to_empty ? env.from : env.reply_to);
  out += ' ';
  write_addresses(out, env.to);
  out += ' ';
  write_addresses(out, env.cc);
  out += ' ';
  write_addresses(out, env.bcc);
  out += ' ';
  append_nstring_nolf(out, env.in_reply_to);
  out += ' ';
  append_nstring_nolf(out, env.message_id);
}

std::string envelope_string(const Message& msg) {
  std::string out = "(";
  write_envelope(out, read_envelope(msg.raw(), msg.root()));
  out += ')';
  return out;
}

} // namespace icalgate::protocol::mime
