// Byte-level BPE pre-tokenizers: the regex splits llama.cpp applies before BPE merging, chosen
// by `tokenizer.ggml.pre`.
//
// llama.cpp runs each model's list of regexes in turn, every regex splitting the pieces the
// previous one left (`unicode_regex_split`); text between two matches stays a piece of its own.
// It implements the GPT-2 and Llama 3 regexes by hand and runs the others through std::regex on
// a copy of the text where each non-ASCII code point is replaced by a stand-in byte for its
// Unicode category. Here every regex is a small hand-written matcher over code points and their
// Unicode properties (unicode.hpp) with the same leftmost-first, greedy, backtracking semantics,
// so \p{L}, \p{N}, \p{P} and \s follow Unicode, exactly as in llama.cpp.
//
// Called only by `BpeEncoder`; stateless, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizer/unicode.hpp"

namespace capibara {

// The distinct regex lists (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*` that capibara implements).
enum class BpePreTokenizer : uint8_t {
  kDefault,        // "default", or no `tokenizer.ggml.pre` at all
  kGpt2,           // GPT-2's regex: gpt-2, mpt, olmo, phi-2, jais, ...
  kLlama3,         // Llama 3's regex (case-insensitive contractions, digits in threes)
  kQwen2,          // Llama 3's regex with single digits: qwen2, stablelm2, ...
  kDeepseekLlm,    // DeepSeek LLM's five regexes
  kDeepseekCoder,  // DeepSeek Coder's five regexes
  kFalcon,         // punctuation runs, GPT-2, digits in threes
  kStarcoder,      // single digits, then GPT-2: starcoder, refact, command-r, smollm, ...
};

// What a `tokenizer.ggml.pre` name selects, with the flags llama.cpp sets along with it.
struct BpePreTokenizerInfo {
  BpePreTokenizer type = BpePreTokenizer::kDefault;
  bool ignore_merges = false;  // a word that is itself a token is not merged (Llama 3)
  bool add_bos = false;        // default of `add_bos_token` when the file does not say
  bool clean_spaces = true;    // llama.cpp's `clean_up_tokenization_spaces` for detokenizing
};

// The pre-tokenizer for a `tokenizer.ggml.pre` value; nullopt for a name capibara does not know.
std::optional<BpePreTokenizerInfo> find_bpe_pre_tokenizer(std::string_view name);

// Splits `cps` (code points, with their `flags`) into words; appends each word's length in code
// points to `word_lengths`. Every code point lands in exactly one word, in order.
void bpe_pre_tokenize(BpePreTokenizer type, std::span<const uint32_t> cps,
                      std::span<const unicode::Flags> flags, std::vector<uint32_t>& word_lengths);

}  // namespace capibara
