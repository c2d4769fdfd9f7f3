// Python `str` semantics over UTF-8 strings.
#include "chat/text.hpp"

#include <algorithm>

#include "chat/template_error.hpp"

namespace capibara::chat::text {
namespace {

constexpr char32_t kEscapeBase = 0xDC00;  // invalid byte b decodes to U+DC00 + b (b >= 0x80)

// Length of a well-formed UTF-8 sequence at the start of `s`, or 0 if it is not well formed.
size_t sequence_length(std::string_view s, char32_t& out) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) {
    out = b0;
    return 1;
  }
  size_t n = 0;
  char32_t c = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, c = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, c = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, c = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  out = c;
  return n;
}

// Code point -> (lower, upper) for the scripts whose case pairs follow simple rules. Python maps
// the whole of Unicode; chat templates change case on role names and keywords, so Latin, Greek
// and Cyrillic cover what they meet.
char32_t map_case(char32_t c, bool upper) {
  if (c < 0x80) {
    if (upper && c >= 'a' && c <= 'z') return c - 32;
    if (!upper && c >= 'A' && c <= 'Z') return c + 32;
    return c;
  }
  // Latin-1: U+00C0..U+00DE <-> U+00E0..U+00FE, except the signs U+00D7 and U+00F7.
  if (c >= 0xC0 && c <= 0xFE && c != 0xD7 && c != 0xF7 && c != 0xDF) {
    if (upper && c >= 0xE0) return c - 0x20;
    if (!upper && c <= 0xDE) return c + 0x20;
    return c;
  }
  if (c == 0xFF) return upper ? 0x178 : c;
  if (c == 0x178) return upper ? c : 0xFF;
  // Latin Extended-A: pairs (even upper, odd lower), shifted by one in two ranges.
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    const bool is_upper = ((c & 1) == 1) == odd_upper;
    if (upper && !is_upper) return c - 1;
    if (!upper && is_upper) return c + 1;
    return c;
  }
  // Greek: U+0391..U+03A9 <-> U+03B1..U+03C9 (no U+03A2), final sigma uppercases to sigma.
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return upper ? c : c + 0x20;
  if (c >= 0x3B1 && c <= 0x3C9) return upper ? (c == 0x3C2 ? 0x3A3 : c - 0x20) : c;
  // Cyrillic: U+0410..U+042F <-> U+0430..U+044F and U+0400..U+040F <-> U+0450..U+045F.
  if (c >= 0x410 && c <= 0x42F) return upper ? c : c + 0x20;
  if (c >= 0x430 && c <= 0x44F) return upper ? c - 0x20 : c;
  if (c >= 0x400 && c <= 0x40F) return upper ? c : c + 0x50;
  if (c >= 0x450 && c <= 0x45F) return upper ? c - 0x50 : c;
  return c;
}

std::u32string chars_of(const std::optional<std::string>& chars) {
  return chars ? decode(*chars) : std::u32string();
}

}  // namespace

std::u32string decode(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) {
    char32_t c = 0;
    const size_t n = sequence_length(utf8.substr(i), c);
    if (n == 0) {
      out.push_back(kEscapeBase + static_cast<unsigned char>(utf8[i]));
      ++i;
    } else {
      out.push_back(c);
      i += n;
    }
  }
  return out;
}

void append_code_point(std::string& out, char32_t c) {
  if (c >= kEscapeBase + 0x80 && c <= kEscapeBase + 0xFF) {
    out.push_back(static_cast<char>(c - kEscapeBase));
  } else if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (const char32_t c : code_points) append_code_point(out, c);
  return out;
}

size_t length(std::string_view utf8) {
  if (std::all_of(utf8.begin(), utf8.end(), [](char c) { return (c & 0x80) == 0; })) {
    return utf8.size();
  }
  return decode(utf8).size();
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

char32_t to_upper(char32_t c) { return map_case(c, true); }
char32_t to_lower(char32_t c) { return map_case(c, false); }
bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char32_t c : decode(s)) {
    if (c == 0xDF) {
      out += "SS";  // Python: "ß".upper() == "SS"
    } else {
      append_code_point(out, to_upper(c));
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::u32string cps = decode(s);
  for (char32_t& c : cps) c = to_lower(c);
  return encode(cps);
}

std::string capitalize(std::string_view s) {
  std::u32string cps = decode(s);
  for (size_t i = 0; i < cps.size(); ++i) cps[i] = i == 0 ? to_upper(cps[i]) : to_lower(cps[i]);
  return encode(cps);
}

std::string title(std::string_view s) {
  std::u32string cps = decode(s);
  bool previous_cased = false;
  for (char32_t& c : cps) {
    if (is_cased(c)) {
      c = previous_cased ? to_lower(c) : to_upper(c);
      previous_cased = true;
    } else {
      previous_cased = false;
    }
  }
  return encode(cps);
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  const std::u32string set = chars_of(chars);
  const auto strippable = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : is_space(c);
  };
  const std::u32string cps = decode(s);
  size_t begin = 0;
  size_t end = cps.size();
  if (left) {
    while (begin < end && strippable(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strippable(cps[end - 1])) --end;
  }
  return encode(std::u32string_view(cps).substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) throw TemplateError(TemplateError::Kind::kRuntime, "empty separator");
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      const size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) break;
      parts.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  const std::u32string cps = decode(s);
  size_t i = 0;
  while (true) {
    while (i < cps.size() && is_space(cps[i])) ++i;
    if (i == cps.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      size_t end = cps.size();
      while (end > i && is_space(cps[end - 1])) --end;
      parts.push_back(encode(std::u32string_view(cps).substr(i, end - i)));
      break;
    }
    size_t j = i;
    while (j < cps.size() && !is_space(cps[j])) ++j;
    parts.push_back(encode(std::u32string_view(cps).substr(i, j - i)));
    i = j;
  }
  return parts;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t maxsplit) {
  if (maxsplit < 0) return split(s, sep, maxsplit);
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) throw TemplateError(TemplateError::Kind::kRuntime, "empty separator");
    size_t end = s.size();
    while (static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      parts.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    parts.emplace_back(s.substr(0, end));
  } else {
    const std::u32string cps = decode(s);
    size_t j = cps.size();
    while (true) {
      while (j > 0 && is_space(cps[j - 1])) --j;
      if (j == 0) break;
      if (static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t begin = 0;
        while (begin < j && is_space(cps[begin])) ++begin;
        parts.push_back(encode(std::u32string_view(cps).substr(begin, j - begin)));
        break;
      }
      size_t i = j;
      while (i > 0 && !is_space(cps[i - 1])) --i;
      parts.push_back(encode(std::u32string_view(cps).substr(i, j - i)));
      j = i;
    }
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  const std::u32string cps = decode(s);
  std::vector<std::string> lines;
  size_t start = 0;
  size_t i = 0;
  while (i < cps.size()) {
    const char32_t c = cps[i];
    const bool boundary = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C ||
                          c == 0x1D || c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!boundary) {
      ++i;
      continue;
    }
    size_t next = i + 1;
    if (c == '\r' && next < cps.size() && cps[next] == '\n') ++next;
    const size_t end = keepends ? next : i;
    lines.push_back(encode(std::u32string_view(cps).substr(start, end - start)));
    start = i = next;
  }
  if (start < cps.size()) lines.push_back(encode(std::u32string_view(cps).substr(start)));
  return lines;
}

std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    int64_t count) {
  std::string out;
  int64_t done = 0;
  const auto may_replace = [&] { return count < 0 || done < count; };
  if (old_text.empty()) {
    const std::u32string cps = decode(s);
    for (const char32_t c : cps) {
      if (may_replace()) {
        out += new_text;
        ++done;
      }
      append_code_point(out, c);
    }
    if (may_replace()) out += new_text;
    return out;
  }
  size_t start = 0;
  while (may_replace()) {
    const size_t at = s.find(old_text, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start));
    out.append(new_text);
    start = at + old_text.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string_view::npos; at = s.find(sub, at + sub.size())) {
    ++n;
  }
  return n;
}

int64_t find(std::string_view s, std::string_view sub, bool reverse) {
  const size_t at = reverse ? s.rfind(sub) : s.find(sub);
  if (at == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, at)));
}

}  // namespace capibara::chat::text
