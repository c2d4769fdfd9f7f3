// WordPiece ("bert") encoding as llama.cpp's `llm_tokenizer_wpm` does it: BERT's normalizer
// (lowercasing, accents stripped through NFD, control characters dropped), words split at
// whitespace, punctuation, ASCII symbols and CJK ideographs, then greedy longest-match of each
// word against the vocabulary, or [UNK] for a word that cannot be spelled.
//
// llama.cpp's BERT vocabularies are converted so that a word-initial piece carries "▁" (U+2581)
// and a continuation piece carries nothing ("##" removed), so matching starts from "▁" + word.
//
// Called only by `Tokenizer`; immutable after construction, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.hpp"

namespace capibara {

// BertNormalizer options (`tokenizer.ggml.normalizer.*`).
struct WpmOptions {
  bool lowercase = true;
  bool strip_accents = true;
};

class WpmEncoder {
 public:
  WpmEncoder() = default;
  // `unk_id` (-1 for none) stands for a word that has no spelling in the vocabulary.
  WpmEncoder(const Vocab& vocab, int32_t unk_id, WpmOptions options);

  // Appends the tokens of `text` to `out`.
  void encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const;

  const WpmOptions& options() const { return options_; }

 private:
  int32_t unk_id_ = -1;
  WpmOptions options_;
  size_t max_token_bytes_ = 0;  // longest token text: no match can be longer
};

}  // namespace capibara
