#pragma once
// Independent readers for what the admin endpoint serves, so that the tests parse the bytes
// back instead of comparing them with what the code under test would write: a ZIP reader for
// stored entries (with its own CRC-32) and a strict reader for the small XML subset of
// Thunderbird's autoconfig.

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace icalgate::test {

// CRC-32 (IEEE 802.3, reflected), bit by bit.
inline std::uint32_t crc32_of(std::string_view data) {
  std::uint32_t crc = 0xffffffffU;
  for (const char c : data) {
    crc ^= static_cast<unsigned char>(c);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0xedb88320U : crc >> 1;
    }
  }
  return ~crc;
}

struct ZipFile {
  std::string name;
  std::string data;
};

// Reads an archive the way unzip does (end record, central directory, then each local
// header), checking that both headers agree, entries are stored, and the CRCs match. Returns
// nullopt for anything inconsistent; `why` says what.
inline std::optional<std::vector<ZipFile>> read_stored_zip(const std::string& zip,
                                                           std::string& why) {
  const auto u16 = [&](std::size_t at) -> std::uint32_t {
    return static_cast<unsigned char>(zip[at]) | (static_cast<unsigned char>(zip[at + 1]) << 8);
  };
  const auto u32 = [&](std::size_t at) -> std::uint32_t { return u16(at) | (u16(at + 2) << 16); };
  if (zip.size() < 22 || u32(zip.size() - 22) != 0x06054b50) {
    why = "no end of central directory record (with an empty comment) at the end";
    return std::nullopt;
  }
  const std::size_t end = zip.size() - 22;
  const std::uint32_t count = u16(end + 10);
  const std::uint32_t dir_size = u32(end + 12);
  const std::uint32_t dir_offset = u32(end + 16);
  if (u16(end + 8) != count || dir_offset + static_cast<std::size_t>(dir_size) != end) {
    why = "end record does not describe the central directory before it";
    return std::nullopt;
  }
  std::vector<ZipFile> files;
  std::size_t at = dir_offset;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (at + 46 > end || u32(at) != 0x02014b50) {
      why = "bad central directory entry " + std::to_string(i);
      return std::nullopt;
    }
    const std::uint32_t method = u16(at + 10);
    const std::uint32_t crc = u32(at + 16);
    const std::uint32_t compressed = u32(at + 20);
    const std::uint32_t size = u32(at + 24);
    const std::uint32_t name_len = u16(at + 28);
    const std::uint32_t extra_len = u16(at + 30);
    const std::uint32_t comment_len = u16(at + 32);
    const std::uint32_t local = u32(at + 42);
    const std::string name = zip.substr(at + 46, name_len);
    if (method != 0 || compressed != size) {
      why = name + " is not stored";
      return std::nullopt;
    }
    if (local + 30 > dir_offset || u32(local) != 0x04034b50) {
      why = name + ": no local header where the directory says";
      return std::nullopt;
    }
    const std::uint32_t local_name_len = u16(local + 26);
    const std::uint32_t local_extra_len = u16(local + 28);
    if (u16(local + 8) != method || u32(local + 14) != crc || u32(local + 18) != compressed ||
        u32(local + 22) != size || zip.substr(local + 30, local_name_len) != name) {
      why = name + ": local header and central directory disagree";
      return std::nullopt;
    }
    const std::size_t data_at = local + 30 + local_name_len + local_extra_len;
    if (data_at + size > dir_offset) {
      why = name + ": data runs into the central directory";
      return std::nullopt;
    }
    std::string data = zip.substr(data_at, size);
    if (crc32_of(data) != crc) {
      why = name + ": CRC-32 mismatch";
      return std::nullopt;
    }
    files.push_back(ZipFile{name, std::move(data)});
    at += 46 + name_len + extra_len + comment_len;
  }
  if (at != end) {
    why = "central directory size does not match its entries";
    return std::nullopt;
  }
  return files;
}

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text; // character data directly inside, entities decoded
  std::vector<XmlElement> children;

  std::vector<const XmlElement*> all(std::string_view child_name) const {
    std::vector<const XmlElement*> out;
    for (const auto& c : children) {
      if (c.name == child_name) {
        out.push_back(&c);
      }
    }
    return out;
  }
  // The text of the only child called `child_name`, or nullopt if there is not exactly one.
  std::optional<std::string> text_of(std::string_view child_name) const {
    const auto found = all(child_name);
    return found.size() == 1 ? std::optional<std::string>(found.front()->text) : std::nullopt;
  }
};

// A strict reader for documents made of an XML declaration, elements, attributes in double
// quotes, and character data with the five predefined entities. Anything else (comments,
// CDATA, unbalanced tags, a raw '<' or '&', duplicate attributes, trailing content) fails.
class XmlReader {
 public:
  static std::optional<XmlElement> parse(std::string_view text) {
    XmlReader r(text);
    const std::string_view decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    if (r.text_.substr(0, decl.size()) != decl) {
      return std::nullopt;
    }
    r.pos_ = decl.size();
    r.skip_space();
    auto root = r.element();
    r.skip_space();
    if (!root || r.pos_ != r.text_.size()) {
      return std::nullopt;
    }
    return root;
  }

 private:
  explicit XmlReader(std::string_view text) : text_(text) {}

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) {
      ++pos_;
    }
  }
  std::string name() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && name_char(text_[pos_])) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  // Decodes character data up to `stop`; nullopt for a raw '<', '&' or '>' or a bad entity.
  std::optional<std::string> chars(char stop) {
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != stop) {
      const char c = text_[pos_];
      if (c == '<' || c == '>' || (stop == '"' && c == '\n')) {
        return std::nullopt;
      }
      if (c != '&') {
        out += c;
        ++pos_;
        continue;
      }
      bool matched = false;
      for (const auto& [entity, value] :
           {std::pair{"&amp;", '&'}, std::pair{"&lt;", '<'}, std::pair{"&gt;", '>'},
            std::pair{"&quot;", '"'}, std::pair{"&apos;", '\''}}) {
        const std::string_view e(entity);
        if (text_.substr(pos_, e.size()) == e) {
          out += value;
          pos_ += e.size();
          matched = true;
          break;
        }
      }
      if (!matched && text_.substr(pos_, 2) == "&#") {
        // A character reference (ASCII only is enough here): "&#39;" or "&#x27;".
        const bool hex = text_.substr(pos_ + 2, 1) == "x";
        const std::size_t digits = pos_ + (hex ? 3 : 2);
        const std::size_t end = text_.find(';', digits);
        unsigned value = 0;
        if (end != std::string_view::npos && end > digits && end - digits <= 6 &&
            std::from_chars(text_.data() + digits, text_.data() + end, value, hex ? 16 : 10).ptr ==
                text_.data() + end &&
            value > 0 && value < 128) {
          out += static_cast<char>(value);
          pos_ = end + 1;
          matched = true;
        }
      }
      if (!matched) {
        return std::nullopt;
      }
    }
    return out;
  }
  bool eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<XmlElement> element() {
    if (++depth_ > 32 || !eat('<')) {
      return std::nullopt;
    }
    XmlElement e;
    e.name = name();
    if (e.name.empty()) {
      return std::nullopt;
    }
    while (true) {
      const bool spaced = pos_ < text_.size() && text_[pos_] == ' ';
      skip_space();
      if (eat('>')) {
        break;
      }
      if (eat('/')) {
        --depth_;
        return eat('>') ? std::optional<XmlElement>(std::move(e)) : std::nullopt;
      }
      std::string attr = name();
      if (!spaced || attr.empty() || !eat('=') || !eat('"')) {
        return std::nullopt;
      }
      auto value = chars('"');
      if (!value || !eat('"') || !e.attributes.emplace(attr, *value).second) {
        return std::nullopt;
      }
    }
    while (true) {
      auto text = chars('<');
      if (!text || pos_ >= text_.size()) {
        return std::nullopt;
      }
      e.text += *text;
      if (text_.substr(pos_, 2) == "</") {
        pos_ += 2;
        if (name() != e.name || !eat('>')) {
          return std::nullopt;
        }
        --depth_;
        return e;
      }
      auto child = element();
      if (!child) {
        return std::nullopt;
      }
      e.children.push_back(std::move(*child));
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

} // namespace icalgate::test
