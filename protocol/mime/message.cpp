#include "protocol/mime/message.hpp"

#include "protocol/mime/rfc822_lexer.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <strings.h>

namespace icalgate::protocol::mime {

namespace {

// RFC 2046 allows 70 characters; Dovecot keeps a few more and truncates longer boundaries.
constexpr std::size_t kBoundaryMaxLen = 70 + 10;
constexpr std::size_t kBoundaryEndMaxLen = kBoundaryMaxLen + 2 + 2;

// The parser follows Dovecot's message-parser.c state machine decision for decision, over a
// buffer that is already complete: every place where Dovecot reads more input is a place
// where we already have it. Sizes are added per disjoint block and summed into the parent
// when a part ends, so each byte is counted once whatever the nesting depth.
class Parser {
 public:
  Parser(std::string_view raw, MimePart& root, const ParseLimits& limits)
      : raw_(raw), limits_(limits) {
    stack_.push_back(&root);
  }

  void run() {
    State state = State::header;
    while (state != State::done) {
      switch (state) {
      case State::header:
        state = parse_header();
        break;
      case State::to_boundary:
        state = body_to_boundary();
        break;
      case State::to_eof:
        add_block(pos_, raw_.size());
        pos_ = raw_.size();
        state = State::done;
        break;
      case State::done:
        break;
      }
    }
    while (stack_.size() > 1) {
      finish_part();
    }
  }

 private:
  enum class State { header, to_boundary, to_eof, done };

  struct Boundary {
    MimePart* part;
    std::string text;
    bool epilogue_found = false;
  };

  MimePart& current() { return *stack_.back(); }

  bool too_many_nested() const { return nested_ + 1 >= limits_.max_nested_parts; }

  void append_child() {
    MimePart& parent = current();
    parent.children.emplace_back();
    MimePart& child = parent.children.back();
    // Where Dovecot puts the child: after what the parent holds so far. This differs from
    // pos_ only when a newline was handed over to a boundary.
    child.offset = parent.offset + parent.header_size.physical + parent.body_size.physical;
    stack_.push_back(&child);
    ++nested_;
    ++total_;
  }

  void finish_part() {
    MimePart& child = current();
    stack_.pop_back();
    --nested_;
    MimePart& parent = current();
    parent.body_size += child.body_size;
    parent.body_size += child.header_size;
  }

  void add_block(std::size_t a, std::size_t b) {
    if (b <= a) {
      return;
    }
    MimePart& part = current();
    const char* data = raw_.data();
    std::uint32_t lines = 0;
    std::uint64_t missing_cr = 0;
    if (data[a] == '\n') {
      ++lines;
      if (last_chr_ != '\r') {
        ++missing_cr;
      }
    }
    const char* cur = data + a + 1;
    const char* end = data + b;
    while (cur < end) {
      const auto* next = static_cast<const char*>(std::memchr(cur, '\n', end - cur));
      if (next == nullptr) {
        break;
      }
      ++lines;
      if (next[-1] != '\r') {
        ++missing_cr;
      }
      cur = next + 1;
    }
    if (std::memchr(data + a, '\0', b - a) != nullptr) {
      part.flags |= kHasNuls;
    }
    last_chr_ = data[b - 1];
    part.body_size.physical += b - a;
    part.body_size.virtual_size += (b - a) + missing_cr;
    part.body_size.lines += lines;
  }

  // Dovecot's boundary_line_find(): is the line at `p` "--" + one of the open boundaries?
  Boundary* boundary_at(std::size_t p) {
    if (boundaries_.empty() || total_ >= limits_.max_total_parts) {
      return nullptr;
    }
    const std::size_t n = raw_.size();
    if (n - p < 2 || raw_[p] != '-' || raw_[p + 1] != '-') {
      return nullptr;
    }
    const std::size_t d = p + 2;
    const std::size_t size = n - d;
    std::size_t find_size = size;
    const std::size_t lf = raw_.find('\n', d);
    if (lf != std::string_view::npos) {
      find_size = lf - d;
      if (find_size > 0 && raw_[d + find_size - 1] == '\r') {
        --find_size;
      }
      if (find_size > 2 && raw_[d + find_size - 1] == '-' && raw_[d + find_size - 2] == '-') {
        find_size -= 2;
      }
    } else if (find_size > kBoundaryEndMaxLen) {
      find_size = kBoundaryEndMaxLen;
    }
    Boundary* best = nullptr;
    for (auto it = boundaries_.rbegin(); it != boundaries_.rend(); ++it) {
      const std::size_t len = it->text.size();
      if (len <= find_size && raw_.compare(d, len, it->text) == 0 &&
          (best == nullptr || best->text.size() < len)) {
        best = &*it;
        if (len == find_size) {
          break;
        }
      }
    }
    if (best == nullptr) {
      return nullptr;
    }
    const std::size_t len = best->text.size();
    best->epilogue_found = size >= len + 2 && raw_.compare(d + len, 2, "--") == 0;
    return best;
  }

  // The first Content-Type decides the part's kind and its boundary.
  void parse_content_type_flags(MimePart& part, const std::string& value,
                                std::optional<std::string>& last_boundary) {
    Rfc822Lexer lexer(value);
    lexer.skip_lwsp();
    std::string ct;
    const int ret = lexer.parse_content_type(ct);
    ct = ct.substr(0, ct.find('\0'));
    if (iequals(ct, "message/rfc822")) {
      part.flags |= kMessageRfc822;
    } else if (ct.size() >= 4 && strncasecmp(ct.c_str(), "text", 4) == 0 &&
               (ct.size() == 4 || ct[4] == '/')) {
      part.flags |= kText;
    } else if (ct.size() >= 10 && strncasecmp(ct.c_str(), "multipart/", 10) == 0) {
      part.flags |= kMultipart;
      if (iequals(std::string_view(ct).substr(10), "digest")) {
        part.flags |= kMultipartDigest;
      }
    }
    if (ret < 0 || (part.flags & kMultipart) == 0 || last_boundary) {
      return;
    }
    for (auto& [key, val] : parse_rfc2231_params(lexer)) {
      if (iequals(key, "boundary")) {
        last_boundary = val.substr(0, kBoundaryMaxLen);
        break;
      }
    }
  }

  static bool at_eoh(std::string_view raw, std::size_t p) {
    return p < raw.size() &&
           (raw[p] == '\n' || (raw[p] == '\r' && p + 1 < raw.size() && raw[p + 1] == '\n'));
  }

  static void move_newline_to_parent(MimePart& part, MimePart& parent, std::size_t len) {
    part.header_size.lines--;
    part.header_size.physical -= len;
    part.header_size.virtual_size -= 2;
    parent.body_size.lines++;
    parent.body_size.physical += len;
    parent.body_size.virtual_size += 2;
  }

  State parse_header() {
    MimePart& part = current();
    MimePart* parent = stack_.size() > 1 ? stack_[stack_.size() - 2] : nullptr;
    std::optional<std::string> last_boundary;
    bool seen_content_type = false;
    bool multipart_started = false;
    std::size_t prev_newline = 0;
    const std::size_t n = raw_.size();

    for (;;) {
      if (pos_ < n && at_eoh(raw_, pos_) && last_boundary && part.is(kIsMime)) {
        if (!too_many_nested()) {
          boundaries_.push_back(Boundary{&part, std::move(*last_boundary)});
          last_boundary.reset();
          multipart_started = true;
        } else {
          part.flags &= ~static_cast<unsigned>(kMultipart);
          part.flags |= kOverflow;
        }
      }
      if (pos_ >= n) {
        break; // headers end at EOF without an empty line
      }
      if (const Boundary* b = boundary_at(pos_); b != nullptr && b->part != &part) {
        // The [CR]LF before a boundary belongs to the boundary, not to this header.
        if (prev_newline > 0 && parent != nullptr) {
          move_newline_to_parent(part, *parent, prev_newline);
        }
        break;
      }
      if (at_eoh(raw_, pos_)) {
        const std::size_t len = raw_[pos_] == '\r' ? 2 : 1;
        part.header_size.lines++;
        part.header_size.physical += len;
        part.header_size.virtual_size += 2;
        pos_ += len;
        // Dovecot looks for a boundary once more after the empty line: if an enclosing
        // boundary follows at once, the empty line's newline belongs to that boundary.
        if (pos_ < n && parent != nullptr) {
          if (const Boundary* b = boundary_at(pos_); b != nullptr && b->part != &part) {
            move_newline_to_parent(part, *parent, len);
          }
        }
        break;
      }
      HeaderField field;
      field.start = pos_;
      const std::size_t first_lf = raw_.find('\n', pos_);
      const std::size_t first_end = first_lf == std::string_view::npos ? n : first_lf;
      const auto* colon_ptr =
          static_cast<const char*>(std::memchr(raw_.data() + pos_, ':', first_end - pos_));
      const std::size_t colon = colon_ptr == nullptr
                                    ? std::string_view::npos
                                    : static_cast<std::size_t>(colon_ptr - raw_.data());
      for (;;) {
        const std::size_t line_start = pos_;
        const std::size_t lf = raw_.find('\n', pos_);
        if (lf == std::string_view::npos) {
          part.header_size.physical += n - pos_;
          part.header_size.virtual_size += n - pos_;
          pos_ = n;
          prev_newline = 0;
          break;
        }
        const bool crlf = lf > line_start && raw_[lf - 1] == '\r';
        part.header_size.lines++;
        part.header_size.physical += lf + 1 - line_start;
        part.header_size.virtual_size += lf + 1 - line_start + (crlf ? 0 : 1);
        prev_newline = crlf ? 2 : 1;
        pos_ = lf + 1;
        if (pos_ < n && (raw_[pos_] == ' ' || raw_[pos_] == '\t')) {
          continue;
        }
        break;
      }
      field.end = pos_;
      field.colon = colon != std::string_view::npos && colon < first_end ? colon : field.end;
      handle_field(part, field, seen_content_type, last_boundary);
    }

    // end of headers
    if (!part.is(kIsMime)) {
      part.flags = 0;
      part.content = ContentInfo{};
    }
    if (!seen_content_type || !part.is(kIsMime)) {
      if (parent != nullptr && parent->is(kMultipartDigest)) {
        part.flags |= kMessageRfc822;
      } else {
        part.flags |= kText;
      }
    }
    last_chr_ = '\n';
    if (multipart_started) {
      return State::to_boundary;
    }
    if (part.is(kMessageRfc822) && !too_many_nested()) {
      append_child();
      return State::header;
    }
    if (part.is(kMessageRfc822)) {
      part.flags &= ~static_cast<unsigned>(kMessageRfc822);
      part.flags |= kOverflow;
    }
    return boundaries_.empty() ? State::to_eof : State::to_boundary;
  }

  void handle_field(MimePart& part, const HeaderField& field, bool& seen_content_type,
                    std::optional<std::string>& last_boundary) {
    if (part.headers.size() < limits_.max_header_fields) {
      part.headers.push_back(field);
    }
    const std::string_view name = header_name(raw_, field);
    const std::string_view cname = name.substr(0, std::min(name.size(), name.find('\0')));
    const bool is_content = cname.size() >= 8 && strncasecmp(cname.data(), "Content-", 8) == 0;
    if (iequals(cname, "Mime-Version")) {
      part.flags |= kIsMime;
    } else if (iequals(cname, "Content-Type")) {
      part.flags |= kIsMime;
      if (!seen_content_type) {
        seen_content_type = true;
        parse_content_type_flags(part, header_full_value(raw_, field), last_boundary);
      }
    }
    if (is_content) {
      part.content.add_header(cname, header_full_value(raw_, field));
    }
  }

  State body_to_boundary() {
    const std::size_t n = raw_.size();
    if (last_chr_ == '\n') {
      if (Boundary* b = boundary_at(pos_); b != nullptr) {
        return part_finish(*b, pos_, true);
      }
    }
    std::size_t p = pos_;
    for (;;) {
      const std::size_t lf = raw_.find('\n', p);
      if (lf == std::string_view::npos) {
        add_block(pos_, n);
        pos_ = n;
        return State::done;
      }
      std::size_t line_start = lf;
      if (lf > pos_ && raw_[lf - 1] == '\r') {
        --line_start;
      }
      if (Boundary* b = boundary_at(lf + 1); b != nullptr) {
        add_block(pos_, line_start);
        return part_finish(*b, line_start, false);
      }
      p = lf + 1;
    }
  }

  State part_finish(Boundary& found, std::size_t line_start, bool first_line) {
    MimePart* owner = found.part;
    const bool epilogue = found.epilogue_found;
    const std::size_t len = found.text.size();
    while (&current() != owner) {
      finish_part();
    }
    const auto idx = static_cast<std::size_t>(&found - boundaries_.data());
    boundaries_.resize(epilogue ? idx : idx + 1);
    std::size_t line_size = 0;
    if (!first_line) {
      line_size = raw_[line_start] == '\r' ? 2 : 1;
    }
    line_size += 2 + len + (epilogue ? 2 : 0);
    add_block(line_start, line_start + line_size);
    pos_ = line_start + line_size;
    // the rest of the boundary line
    const std::size_t lf = raw_.find('\n', pos_);
    if (lf == std::string_view::npos) {
      add_block(pos_, raw_.size());
      pos_ = raw_.size();
      return State::done;
    }
    add_block(pos_, lf + 1);
    pos_ = lf + 1;
    if (boundaries_.empty() || boundaries_.back().part != &current()) {
      return boundaries_.empty() ? State::to_eof : State::to_boundary;
    }
    append_child();
    current().flags |= kIsMime;
    return State::header;
  }

  std::string_view raw_;
  const ParseLimits& limits_;
  std::size_t pos_ = 0;
  std::vector<MimePart*> stack_;
  std::vector<Boundary> boundaries_;
  char last_chr_ = '\n';
  unsigned nested_ = 0;
  unsigned total_ = 0;
};

} // namespace

std::string dovecot_stored_form(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  std::size_t run = 0;
  for (std::size_t i = 0; i + 1 < raw.size(); ++i) {
    if (raw[i] == '\r' && raw[i + 1] == '\n') {
      out.append(raw.substr(run, i - run));
      run = i + 1;
    }
  }
  out.append(raw.substr(run));
  // a CR at the very end waits for an LF that never comes and is lost
  if (!out.empty() && out.back() == '\r') {
    out.pop_back();
  }
  return out;
}

Result<Message> parse_message(std::string bytes, const ParseLimits& limits) {
  if (bytes.size() > limits.max_message_size) {
    return make_error(Errc::literal_too_large, "message exceeds the size limit");
  }
  Message msg;
  msg.raw_ = std::move(bytes);
  Parser parser(msg.raw_, msg.root_, limits);
  parser.run();
  return msg;
}

} // namespace icalgate::protocol::mime
