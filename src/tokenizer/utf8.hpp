// UTF-8 helpers shared by the tokenizers and the streaming decoder: sequence lengths as
// llama.cpp counts them, validation by the Unicode "maximal subpart" rule, U+FFFD repair.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace capibara::utf8 {

// Length of the sequence that `lead` starts, judged from its high nibble only (llama.cpp's
// `unicode_len_utf8`): 1 for ASCII and for stray continuation bytes, 2, 3 or 4 otherwise.
// The SPM tokenizer splits text into "characters" with exactly this rule, invalid input included.
constexpr size_t lead_length(char lead) {
  constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[static_cast<uint8_t>(lead) >> 4];
}

enum class SequenceStatus {
  kValid,       // `length` bytes form one well-formed code point
  kIncomplete,  // the bytes so far are a valid start, but the text ends before the sequence does
  kInvalid,     // `length` bytes (at least 1) are ill-formed and stand for one U+FFFD
};

struct Sequence {
  SequenceStatus status;
  size_t length;
};

// Classifies the sequence at the start of `bytes` (non-empty). Ill-formed input is split by the
// Unicode "maximal subpart" practice (the same as Python's `errors="replace"`).
Sequence classify(std::string_view bytes);

// Length of the longest prefix of `bytes` that ends on a code point boundary, treating an
// incomplete sequence at the very end as not yet finished. Ill-formed bytes elsewhere count as
// complete (they will become U+FFFD).
size_t complete_prefix_length(std::string_view bytes);

// Appends `bytes` to `out` with every ill-formed sequence (an incomplete one at the end included)
// replaced by U+FFFD.
void append_repaired(std::string& out, std::string_view bytes);

bool is_valid(std::string_view bytes);

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

}  // namespace capibara::utf8
