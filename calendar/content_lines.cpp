#include "calendar/content_lines.hpp"

namespace icalgate::calendar {

namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

void fold_line(std::string_view line, std::string& out) {
  std::size_t limit = kMaxLineOctets;
  while (line.size() > limit) {
    std::size_t cut = limit;
    while (cut > 1 && is_continuation(line[cut])) {
      --cut;
    }
    out.append(line.substr(0, cut));
    out.append("\r\n ");
    line.remove_prefix(cut);
    limit = kMaxLineOctets - 1; // the leading space counts
  }
  out.append(line);
  out.append("\r\n");
}

} // namespace

std::string unfold_content_lines(std::string_view text) {
  // Removing each "\r\n " also repairs libical's misplaced fold: "…\r" "\r\n " "\n" leaves
  // "…\r\n". Lines themselves never start with a space (they start with a name).
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\r\n ") == 0 || text.compare(i, 3, "\r\n\t") == 0) {
      i += 2;
      continue;
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string fold_content_lines(std::string_view unfolded) {
  std::string out;
  out.reserve(unfolded.size() + unfolded.size() / 64 * 3 + 2);
  std::size_t pos = 0;
  while (pos < unfolded.size()) {
    std::size_t end = unfolded.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      end = unfolded.size();
    }
    if (end > pos) {
      fold_line(unfolded.substr(pos, end - pos), out);
    }
    pos = end;
    if (pos < unfolded.size() && unfolded[pos] == '\r') {
      ++pos;
    }
    if (pos < unfolded.size() && unfolded[pos] == '\n') {
      ++pos;
    }
  }
  return out;
}

} // namespace icalgate::calendar
