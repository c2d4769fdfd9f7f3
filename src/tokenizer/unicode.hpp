// Unicode character properties and UTF-8 decoding as llama.cpp's tokenizer sees them (its
// unicode.cpp): general category folded to eight classes, White_Space, simple lowercase, the lead
// code point of the NFD decomposition, and a lenient UTF-8 decoder. The BPE pre-tokenizers and
// WordPiece use these, so that \p{L}, \p{N}, \p{P} and \s mean what they mean in Unicode.
//
// The tables are generated from the Unicode Character Database by scripts/gen_unicode_tables.py.
// Any thread may call these functions; the lookup table is built once, on first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace capibara::unicode {

// General category, folded as llama.cpp folds it (numbering shared with the generator).
enum class Category : uint8_t {
  kUndefined = 0,    // Cn: unassigned
  kNumber = 1,       // Nd Nl No: \p{N}
  kLetter = 2,       // Lu Ll Lt Lm Lo: \p{L}
  kSeparator = 3,    // Zs Zl Zp: \p{Z}
  kMark = 4,         // Mn Mc Me: \p{M}
  kPunctuation = 5,  // Pc Pd Ps Pe Pi Pf Po: \p{P}
  kSymbol = 6,       // Sm Sc Sk So: \p{S}
  kControl = 7,      // Cc Cf Co Cs: \p{C}
};

inline constexpr uint8_t kCategoryMask = 0x07;
inline constexpr uint8_t kWhitespaceBit = 0x08;

// One byte per code point: the category in the low bits, plus White_Space.
struct Flags {
  uint8_t bits = 0;

  Category category() const { return static_cast<Category>(bits & kCategoryMask); }
  // White_Space: \t \n \v \f \r, space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
  // U+202F, U+205F, U+3000. This is also what `\s` matches in every llama.cpp pre-tokenizer regex.
  bool is_whitespace() const { return (bits & kWhitespaceBit) != 0; }
  bool is_letter() const { return category() == Category::kLetter; }
  bool is_number() const { return category() == Category::kNumber; }
  bool is_punctuation() const { return category() == Category::kPunctuation; }
  bool is_symbol() const { return category() == Category::kSymbol; }
  bool is_mark() const { return category() == Category::kMark; }
  bool is_control() const { return category() == Category::kControl; }
};

// Properties of `cp`; code points above U+10FFFF are undefined.
Flags flags(uint32_t cp);

// Simple (one code point) lowercase mapping; `cp` itself when it has none.
uint32_t to_lower(uint32_t cp);

// First code point of the canonical decomposition (NFD) of `cp`: U+00E9 'é' -> U+0065 'e',
// U+D55C -> U+1112. llama.cpp's "NFD" maps each code point to this one code point.
uint32_t nfd_lead(uint32_t cp);

// Version of the Unicode Character Database the tables come from.
std::string_view database_version();

inline constexpr uint32_t kReplacementCodepoint = 0xFFFD;

// Decodes `text` the way llama.cpp's `unicode_cpts_from_utf8` does: a lead byte and the right
// number of continuation bytes form a code point (overlong forms and surrogates included); any
// other byte becomes U+FFFD and decoding resumes at the next byte. Sequences that would decode
// above U+10FFFF (lead bytes F5..F7) also become U+FFFD (llama.cpp throws on them later).
// Appends to `out`; when `byte_offsets` is not null, appends each code point's byte offset.
void decode_utf8(std::string_view text, std::vector<uint32_t>& out,
                 std::vector<uint32_t>* byte_offsets = nullptr);

// Appends the UTF-8 encoding of `cp` (at most U+10FFFF; surrogates are encoded as is).
void append_utf8(std::string& out, uint32_t cp);

}  // namespace capibara::unicode
