// Synthetic tokenizers for `capibara synth`: a vocabulary of any size in the shape of a real
// model's (its special tokens, ids and algorithm), valid for `Tokenizer` and lossless on text.
//
// SentencePiece vocabularies hold the special tokens, the 256 `<0xNN>` byte tokens, "▁" and the
// printable ASCII characters, then pieces built by joining two earlier pieces ("▁th" + "e"),
// scored so that shorter pieces merge first; byte fallback makes any text encodable. Byte-level
// BPE vocabularies hold the 256 byte characters, then one merge per further token ("Ġ" + "t" ->
// "Ġt"), so every token is reachable by merges, plus the special tokens. Pieces are made of
// letters and digits after an optional word-start mark, never of special-token text. The pieces
// come from a fixed seed: every synthetic model of one family and size has the same vocabulary.
//
// Thread safety: pure functions; any thread may call them.
#pragma once

#include <cstdint>
#include <string_view>

#include "tokenizer/tokenizer.hpp"
#include "tools/synth_presets.hpp"

namespace capibara {

namespace gguf {
class GgufWriter;
}

namespace tools {

std::string_view vocab_family_name(VocabFamily family);  // "llama-spm", "qwen2-bpe", ...
// The fewest tokens a vocabulary of `family` can have: its special tokens and base symbols.
int64_t min_vocab_size(VocabFamily family);

// A vocabulary of exactly `n_vocab` tokens, `n_reserved` of them (at most what the size leaves)
// reserved special tokens at the end. Precondition: `n_vocab >= min_vocab_size(family)`
// (InvalidArgumentError otherwise).
TokenizerSpec build_synth_vocab(VocabFamily family, int64_t n_vocab, int64_t n_reserved);

// Writes `spec` as the `tokenizer.ggml.*` keys `Tokenizer::from_gguf` reads.
void write_tokenizer_metadata(const TokenizerSpec& spec, gguf::GgufWriter& writer);

}  // namespace tools
}  // namespace capibara
