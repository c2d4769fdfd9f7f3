// UTF-8 classification and repair (see utf8.hpp).
#include "tokenizer/utf8.hpp"

namespace capibara::utf8 {

namespace {

bool is_continuation(uint8_t byte) { return (byte & 0xC0u) == 0x80u; }

}  // namespace

Sequence classify(std::string_view bytes) {
  const auto b0 = static_cast<uint8_t>(bytes[0]);
  if (b0 < 0x80u) return {SequenceStatus::kValid, 1};
  size_t length;
  // The allowed range of the second byte excludes overlong forms, surrogates and code points
  // above U+10FFFF (Unicode table 3-7).
  uint8_t second_lo = 0x80u;
  uint8_t second_hi = 0xBFu;
  if (b0 >= 0xC2u && b0 <= 0xDFu) {
    length = 2;
  } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
    length = 3;
    if (b0 == 0xE0u) second_lo = 0xA0u;
    if (b0 == 0xEDu) second_hi = 0x9Fu;
  } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
    length = 4;
    if (b0 == 0xF0u) second_lo = 0x90u;
    if (b0 == 0xF4u) second_hi = 0x8Fu;
  } else {
    return {SequenceStatus::kInvalid, 1};  // stray continuation, C0, C1 or F5..FF
  }
  for (size_t i = 1; i < length; ++i) {
    if (i >= bytes.size()) return {SequenceStatus::kIncomplete, i};
    const auto b = static_cast<uint8_t>(bytes[i]);
    const bool ok = i == 1 ? (b >= second_lo && b <= second_hi) : is_continuation(b);
    if (!ok) return {SequenceStatus::kInvalid, i};
  }
  return {SequenceStatus::kValid, length};
}

size_t complete_prefix_length(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence seq = classify(bytes.substr(pos));
    if (seq.status == SequenceStatus::kIncomplete) break;
    pos += seq.length;
  }
  return pos;
}

void append_repaired(std::string& out, std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence seq = classify(bytes.substr(pos));
    if (seq.status == SequenceStatus::kValid) {
      out.append(bytes.substr(pos, seq.length));
    } else {
      out.append(kReplacementCharacter);
    }
    pos += seq.length;
  }
}

bool is_valid(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence seq = classify(bytes.substr(pos));
    if (seq.status != SequenceStatus::kValid) return false;
    pos += seq.length;
  }
  return true;
}

}  // namespace capibara::utf8
