// WordPiece normalization, word splitting and greedy longest-match (see wpm.hpp).
#include "tokenizer/wpm.hpp"

#include <algorithm>
#include <string>

#include "tokenizer/unicode.hpp"

namespace capibara {

namespace {

constexpr std::string_view kWordPrefix = "\xE2\x96\x81";  // "▁": llama.cpp's phantom space

// BERT's `_is_chinese_char` ranges, as llama.cpp (and Hugging Face's Rust code, whose
// 0x2B920 start this keeps instead of 0x2B820) spell them.
bool is_chinese_char(uint32_t cp) {
  return (cp >= 0x04E00 && cp <= 0x09FFF) || (cp >= 0x03400 && cp <= 0x04DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0x0F900 && cp <= 0x0FAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BertNormalizer + BertPreTokenizer: the words of `text`, in order.
std::vector<std::string> split_words(std::string_view text, const WpmOptions& options) {
  std::vector<uint32_t> cps;
  unicode::decode_utf8(text, cps);
  std::vector<std::string> words(1);
  const auto finish_word = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (uint32_t cp : cps) {
    if (options.strip_accents) cp = unicode::nfd_lead(cp);
    const unicode::Flags f = unicode::flags(cp);
    if (f.is_whitespace()) {
      finish_word();
      continue;
    }
    if (cp == 0 || cp == unicode::kReplacementCodepoint || f.is_control()) continue;
    if (options.strip_accents && f.is_mark()) continue;
    const uint32_t out_cp = options.lowercase ? unicode::to_lower(cp) : cp;
    if (f.is_punctuation() || (cp < 0x7F && f.is_symbol()) || is_chinese_char(cp)) {
      finish_word();
      unicode::append_utf8(words.back(), out_cp);  // a word of its own
      words.emplace_back();
    } else {
      unicode::append_utf8(words.back(), out_cp);
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

WpmEncoder::WpmEncoder(const Vocab& vocab, int32_t unk_id, WpmOptions options)
    : unk_id_(unk_id), options_(options) {
  for (int32_t id = 0; id < vocab.size(); ++id) {
    max_token_bytes_ = std::max(max_token_bytes_, vocab[id].text.size());
  }
}

void WpmEncoder::encode(const Vocab& vocab, std::string_view text,
                        std::vector<int32_t>& out) const {
  std::string word;
  for (const std::string& normalized : split_words(text, options_)) {
    word.assign(kWordPrefix);
    word += normalized;
    const size_t n = word.size();
    const size_t first_token = out.size();
    // Greedy longest match from the left; a position nothing matches discards the whole word.
    for (size_t i = 0; i < n;) {
      bool matched = false;
      for (size_t j = std::min(n, i + max_token_bytes_ + 1); j > i; --j) {
        const int32_t id = vocab.find(std::string_view(word).substr(i, j - i));
        if (id >= 0) {
          out.push_back(id);
          i = j;
          matched = true;
          break;
        }
      }
      if (!matched) {
        out.resize(first_token);
        break;
      }
    }
    if (out.size() == first_token && unk_id_ >= 0) out.push_back(unk_id_);
  }
}

}  // namespace capibara
