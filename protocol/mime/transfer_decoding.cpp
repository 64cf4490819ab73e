#include "protocol/mime/transfer_decoding.hpp"

#include <array>
#include <cstdint>
#include <strings.h>

namespace icalgate::protocol::mime {

namespace {

constexpr std::array<signed char, 256> kBase64 = [] {
  std::array<signed char, 256> t{};
  t.fill(-1);
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  }
  return t;
}();

int sextet(char c) {
  return kBase64[static_cast<unsigned char>(c)];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

} // namespace

TransferEncoding classify_transfer_encoding(const std::optional<std::string>& cte) {
  if (!cte) {
    return TransferEncoding::identity;
  }
  const char* s = cte->c_str();
  if (strcasecmp(s, "7bit") == 0 || strcasecmp(s, "8bit") == 0 || strcasecmp(s, "binary") == 0) {
    return TransferEncoding::identity;
  }
  if (strcasecmp(s, "base64") == 0) {
    return TransferEncoding::base64;
  }
  if (strcasecmp(s, "quoted-printable") == 0) {
    return TransferEncoding::quoted_printable;
  }
  return TransferEncoding::unknown;
}

std::optional<std::string> decode_base64(std::string_view in) {
  // Dovecot's decoder: blanks and line breaks are skipped, a group must be complete, '='
  // may only close a group of 2 or 3 characters and nothing but blanks may follow it.
  // Every group yields at most 3 bytes, so the output is sized once and written in place.
  std::string out(in.size() / 4 * 3 + 2, '\0');
  char* w = out.data();
  const char* p = in.data();
  const char* const end = p + in.size();
  std::uint32_t acc = 0;
  int count = 0;
  int pad_left = -1; // >= 0 once padding started: '=' still expected
  while (p != end) {
    if (count == 0 && pad_left < 0) {
      // Whole groups of four alphabet characters: the bulk of every line.
      while (end - p >= 4) {
        const int a = sextet(p[0]);
        const int b = sextet(p[1]);
        const int c = sextet(p[2]);
        const int d = sextet(p[3]);
        if ((a | b | c | d) < 0) {
          break;
        }
        const auto v = static_cast<std::uint32_t>((a << 18) | (b << 12) | (c << 6) | d);
        w[0] = static_cast<char>((v >> 16) & 0xff);
        w[1] = static_cast<char>((v >> 8) & 0xff);
        w[2] = static_cast<char>(v & 0xff);
        w += 3;
        p += 4;
      }
      if (p == end) {
        break;
      }
    }
    const char c = *p++;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;
    }
    if (pad_left >= 0) {
      if (c != '=' || pad_left == 0) {
        return std::nullopt;
      }
      --pad_left;
      continue;
    }
    if (c == '=') {
      if (count == 2) {
        *w++ = static_cast<char>((acc >> 4) & 0xff);
        pad_left = 1;
      } else if (count == 3) {
        *w++ = static_cast<char>((acc >> 10) & 0xff);
        *w++ = static_cast<char>((acc >> 2) & 0xff);
        pad_left = 0;
      } else {
        return std::nullopt;
      }
      count = 0;
      acc = 0;
      continue;
    }
    const int v = sextet(c);
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    if (++count == 4) {
      *w++ = static_cast<char>((acc >> 16) & 0xff);
      *w++ = static_cast<char>((acc >> 8) & 0xff);
      *w++ = static_cast<char>(acc & 0xff);
      acc = 0;
      count = 0;
    }
  }
  if (count != 0 || pad_left > 0) {
    return std::nullopt; // the data ends inside a group
  }
  out.resize(static_cast<std::size_t>(w - out.data()));
  return out;
}

std::optional<std::string> decode_quoted_printable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t lf = in.find('\n', pos);
    const bool has_lf = lf != std::string_view::npos;
    const std::size_t line_end = has_lf ? lf : in.size();
    std::size_t content_end = line_end;
    if (has_lf && content_end > pos && in[content_end - 1] == '\r') {
      --content_end;
    }
    // trailing whitespace is transport padding, not data
    while (content_end > pos && is_blank(in[content_end - 1])) {
      --content_end;
    }
    bool soft_break = false;
    std::size_t i = pos;
    while (i < content_end) {
      // Text up to the next escape goes over in one piece.
      const std::string_view rest = in.substr(i, content_end - i);
      const std::size_t eq = rest.find('=');
      if (eq == std::string_view::npos) {
        out.append(rest);
        break;
      }
      out.append(rest.substr(0, eq));
      i += eq;
      if (i + 1 == content_end) {
        if (!has_lf) {
          return std::nullopt; // a soft break with nothing after it
        }
        soft_break = true;
        break;
      }
      const int hi = hex_value(in[i + 1]);
      const int lo = i + 2 < content_end ? hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 3;
    }
    if (has_lf && !soft_break) {
      out += "\r\n";
    }
    pos = has_lf ? lf + 1 : in.size();
  }
  return out;
}

} // namespace icalgate::protocol::mime
