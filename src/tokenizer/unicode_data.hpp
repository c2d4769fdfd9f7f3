// The raw Unicode tables behind unicode.hpp, generated into unicode_data.cpp by
// scripts/gen_unicode_tables.py. Only unicode.cpp reads them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::unicode::data {

struct FlagRange {
  uint32_t first;  // first code point of the run
  uint8_t flags;   // `Category` in the low 3 bits, `kWhitespaceBit`
};

struct CodepointPair {
  uint32_t from;
  uint32_t to;
};

struct NfdRange {
  uint32_t first;
  uint32_t last;
  uint32_t nfd;  // first code point of the canonical decomposition of every code point in range
};

extern const char kUnicodeVersion[];
extern const FlagRange kFlagRanges[];
extern const size_t kFlagRangeCount;
extern const CodepointPair kLowercase[];
extern const size_t kLowercaseCount;
extern const NfdRange kNfdRanges[];
extern const size_t kNfdRangeCount;

}  // namespace capibara::unicode::data
