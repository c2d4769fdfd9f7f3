// Unicode property lookups over the generated tables, and llama.cpp-compatible UTF-8 decoding
// (see unicode.hpp).
#include "tokenizer/unicode.hpp"

#include <algorithm>
#include <memory>

#include "tokenizer/unicode_data.hpp"

namespace capibara::unicode {

namespace {

constexpr uint32_t kCodepointLimit = 0x110000;

// One flags byte per code point (1.1 MB), expanded from the run-length table once: a lookup on
// the tokenizer's hot path is then a single load.
const uint8_t* flag_table() {
  static const std::unique_ptr<uint8_t[]> table = [] {
    auto t = std::make_unique<uint8_t[]>(kCodepointLimit);
    for (size_t i = 0; i < data::kFlagRangeCount; ++i) {
      const uint32_t first = data::kFlagRanges[i].first;
      const uint32_t end =
          i + 1 < data::kFlagRangeCount ? data::kFlagRanges[i + 1].first : kCodepointLimit;
      std::fill(t.get() + first, t.get() + end, data::kFlagRanges[i].flags);
    }
    return t;
  }();
  return table.get();
}

bool is_continuation(uint8_t byte) { return (byte & 0xC0u) == 0x80u; }

}  // namespace

Flags flags(uint32_t cp) {
  if (cp >= kCodepointLimit) return Flags{static_cast<uint8_t>(Category::kUndefined)};
  return Flags{flag_table()[cp]};
}

uint32_t to_lower(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
  const data::CodepointPair* begin = data::kLowercase;
  const data::CodepointPair* end = data::kLowercase + data::kLowercaseCount;
  const auto* it = std::lower_bound(
      begin, end, cp, [](const data::CodepointPair& p, uint32_t value) { return p.from < value; });
  return it != end && it->from == cp ? it->to : cp;
}

uint32_t nfd_lead(uint32_t cp) {
  const data::NfdRange* begin = data::kNfdRanges;
  const data::NfdRange* end = data::kNfdRanges + data::kNfdRangeCount;
  // The last range whose first code point is <= cp.
  const auto* it = std::upper_bound(
      begin, end, cp, [](uint32_t value, const data::NfdRange& r) { return value < r.first; });
  if (it == begin) return cp;
  --it;
  return cp <= it->last ? it->nfd : cp;
}

std::string_view database_version() { return data::kUnicodeVersion; }

void decode_utf8(std::string_view text, std::vector<uint32_t>& out,
                 std::vector<uint32_t>* byte_offsets) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    const uint8_t b0 = bytes[pos];
    size_t length = 0;
    uint32_t cp = 0;
    if (b0 < 0x80u) {
      length = 1;
      cp = b0;
    } else if ((b0 & 0xE0u) == 0xC0u) {
      if (pos + 1 < n && is_continuation(bytes[pos + 1])) {
        length = 2;
        cp = (uint32_t{b0} & 0x1Fu) << 6 | (bytes[pos + 1] & 0x3Fu);
      }
    } else if ((b0 & 0xF0u) == 0xE0u) {
      if (pos + 2 < n && is_continuation(bytes[pos + 1]) && is_continuation(bytes[pos + 2])) {
        length = 3;
        cp =
            (uint32_t{b0} & 0x0Fu) << 12 | (bytes[pos + 1] & 0x3Fu) << 6 | (bytes[pos + 2] & 0x3Fu);
      }
    } else if ((b0 & 0xF8u) == 0xF0u) {
      if (pos + 3 < n && is_continuation(bytes[pos + 1]) && is_continuation(bytes[pos + 2]) &&
          is_continuation(bytes[pos + 3])) {
        length = 4;
        cp = (uint32_t{b0} & 0x07u) << 18 | (bytes[pos + 1] & 0x3Fu) << 12 |
             (bytes[pos + 2] & 0x3Fu) << 6 | (bytes[pos + 3] & 0x3Fu);
        if (cp >= kCodepointLimit) length = 0;
      }
    }
    if (byte_offsets != nullptr) byte_offsets->push_back(static_cast<uint32_t>(pos));
    if (length == 0) {
      out.push_back(kReplacementCodepoint);
      pos += 1;
    } else {
      out.push_back(cp);
      pos += length;
    }
  }
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80u) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800u) {
    out.push_back(static_cast<char>(0xC0u | (cp >> 6)));
    out.push_back(static_cast<char>(0x80u | (cp & 0x3Fu)));
  } else if (cp < 0x10000u) {
    out.push_back(static_cast<char>(0xE0u | (cp >> 12)));
    out.push_back(static_cast<char>(0x80u | ((cp >> 6) & 0x3Fu)));
    out.push_back(static_cast<char>(0x80u | (cp & 0x3Fu)));
  } else {
    out.push_back(static_cast<char>(0xF0u | ((cp >> 18) & 0x07u)));
    out.push_back(static_cast<char>(0x80u | ((cp >> 12) & 0x3Fu)));
    out.push_back(static_cast<char>(0x80u | ((cp >> 6) & 0x3Fu)));
    out.push_back(static_cast<char>(0x80u | (cp & 0x3Fu)));
  }
}

}  // namespace capibara::unicode
