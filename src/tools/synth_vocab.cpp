// The special tokens of each vocabulary family (texts as the real models spell them: wire
// formats the chat templates and the end-of-generation detection rely on) and the piece builder.
#include "tools/synth_vocab.hpp"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "gguf/gguf_writer.hpp"
#include "tokenizer/bpe.hpp"
#include "tools/synth_random.hpp"

namespace capibara::tools {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁", U+2581
constexpr uint64_t kVocabSeed = 0x766f636162756c61;     // fixed: one vocabulary per size
constexpr size_t kMaxPieceBytes = 16;

struct Special {
  std::string_view text;
  TokenType type = TokenType::kControl;
};

struct Recipe {
  bool bpe = false;
  std::string_view pre;               // BPE pre-tokenizer name
  std::vector<Special> leading;       // ids 0.. before the base symbols
  std::vector<Special> trailing;      // after the pieces
  std::string_view reserved_pattern;  // fmt pattern of a reserved token, given {index, id}
  TokenType reserved_type = TokenType::kControl;
  int64_t reserved_first = 0;           // index of the first reserved token in its name
  std::string_view bos, eos, unk, pad;  // special texts; empty: none
  std::optional<bool> add_bos;
  std::optional<bool> add_space_prefix;
};

Recipe recipe_of(VocabFamily family) {
  Recipe r;
  switch (family) {
    case VocabFamily::kLlamaSpm:
      r.leading = {{"<unk>", TokenType::kUnknown}, {"<s>"}, {"</s>"}};
      r.bos = "<s>";
      r.eos = "</s>";
      r.unk = "<unk>";
      break;
    case VocabFamily::kGemmaSpm:
      r.leading = {
          {"<pad>"},  {"<eos>"},           {"<bos>"},        {"<unk>", TokenType::kUnknown},
          {"<mask>"}, {"<start_of_turn>"}, {"<end_of_turn>"}};
      r.bos = "<bos>";
      r.eos = "<eos>";
      r.unk = "<unk>";
      r.pad = "<pad>";
      r.add_space_prefix = false;  // Gemma's SentencePiece model adds no dummy prefix
      break;
    case VocabFamily::kLlama3Bpe:
      r.bpe = true;
      r.pre = "llama-bpe";
      r.trailing = {{"<|begin_of_text|>"},
                    {"<|end_of_text|>"},
                    {"<|reserved_special_token_0|>"},
                    {"<|reserved_special_token_1|>"},
                    {"<|finetune_right_pad_id|>"},
                    {"<|reserved_special_token_2|>"},
                    {"<|start_header_id|>"},
                    {"<|end_header_id|>"},
                    {"<|eom_id|>"},
                    {"<|eot_id|>"},
                    {"<|python_tag|>"}};
      r.reserved_pattern = "<|reserved_special_token_{0}|>";
      r.reserved_first = 3;
      r.bos = "<|begin_of_text|>";
      r.eos = "<|eot_id|>";  // the instruct models' end of turn, as their GGUF files say
      break;
    case VocabFamily::kQwen2Bpe:
      r.bpe = true;
      r.pre = "qwen2";
      r.trailing = {{"<|endoftext|>"},
                    {"<|im_start|>"},
                    {"<|im_end|>"},
                    {"<|object_ref_start|>"},
                    {"<|object_ref_end|>"},
                    {"<|box_start|>"},
                    {"<|box_end|>"},
                    {"<|quad_start|>"},
                    {"<|quad_end|>"},
                    {"<|vision_start|>"},
                    {"<|vision_end|>"},
                    {"<|vision_pad|>"},
                    {"<|image_pad|>"},
                    {"<|video_pad|>"},
                    {"<tool_call>", TokenType::kUserDefined},
                    {"</tool_call>", TokenType::kUserDefined},
                    {"<|fim_prefix|>"},
                    {"<|fim_middle|>"},
                    {"<|fim_suffix|>"},
                    {"<|fim_pad|>"},
                    {"<|repo_name|>"},
                    {"<|file_sep|>"}};
      // The converter pads the vocabulary to the embedding's rows with unused `[PAD<id>]`.
      r.reserved_pattern = "[PAD{1}]";
      r.reserved_type = TokenType::kUnused;
      r.bos = "<|endoftext|>";
      r.eos = "<|im_end|>";
      r.pad = "<|endoftext|>";
      r.add_bos = false;
      break;
    case VocabFamily::kPhi4Bpe:
      r.bpe = true;
      // Phi-4-mini's own pre-tokenizer is "gpt-4o", a variant of Llama 3's regex that capibara
      // does not implement; the synthetic model uses Llama 3's.
      r.pre = "llama-bpe";
      r.trailing = {{"<|endoftext|>"},  {"<|system|>"},        {"<|user|>"},  {"<|assistant|>"},
                    {"<|end|>"},        {"<|tool|>"},          {"<|/tool|>"}, {"<|tool_call|>"},
                    {"<|/tool_call|>"}, {"<|tool_response|>"}, {"<|tag|>"}};
      r.reserved_pattern = "<|dummy_{0}|>";
      r.bos = "<|endoftext|>";
      r.eos = "<|endoftext|>";
      r.pad = "<|endoftext|>";
      r.add_bos = false;
      break;
    case VocabFamily::kCohereBpe:
      r.bpe = true;
      r.pre = "command-r";
      r.leading = {{"<PAD>"},        {"<UNK>", TokenType::kUnknown},
                   {"<CLS>"},        {"<SEP>"},
                   {"<MASK_TOKEN>"}, {"<BOS_TOKEN>"},
                   {"<EOS_TOKEN>"},  {"<EOP_TOKEN>"}};
      r.trailing = {{"<|START_OF_TURN_TOKEN|>"},
                    {"<|END_OF_TURN_TOKEN|>"},
                    {"<|USER_TOKEN|>"},
                    {"<|CHATBOT_TOKEN|>"},
                    {"<|SYSTEM_TOKEN|>"}};
      r.bos = "<BOS_TOKEN>";
      r.eos = "<|END_OF_TURN_TOKEN|>";
      r.unk = "<UNK>";
      r.pad = "<PAD>";
      r.add_bos = true;
      break;
  }
  return r;
}

// Characters that start the pieces, lowercase letters several times so that pieces look more
// like words than like serial numbers.
std::vector<int> piece_alphabet() {
  std::vector<int> chars;
  for (int rep = 0; rep < 4; ++rep) {
    for (int c = 'a'; c <= 'z'; ++c) chars.push_back(c);
  }
  for (int c = 'A'; c <= 'Z'; ++c) chars.push_back(c);
  for (int c = '0'; c <= '9'; ++c) chars.push_back(c);
  return chars;
}

// Appends `count` pieces to `spec.tokens`, each the join of two earlier pieces: `starts` may
// begin a piece (the word-start mark, letters, digits, earlier pieces), `continuations` may
// follow (no word-start mark). Records the merge "left right" for BPE.
class PieceBuilder {
 public:
  PieceBuilder(TokenizerSpec& spec, std::string_view space_mark, bool record_merges)
      : spec_(spec), record_merges_(record_merges) {
    for (const auto& t : spec.tokens) known_.insert(t);
    starts_.emplace_back(space_mark);
    for (int c : piece_alphabet()) {
      const std::string s = record_merges
                                ? std::string(byte_level::encode_byte(static_cast<uint8_t>(c)))
                                : std::string(1, static_cast<char>(c));
      starts_.push_back(s);
      continuations_.push_back(s);
    }
  }

  void build(int64_t count) {
    SplitMix64 rng(kVocabSeed);
    int64_t made = 0;
    int64_t attempts = 0;
    while (made < count) {
      if (++attempts > 64 * count + 1'000'000) {
        throw InvalidArgumentError(fmt::format("cannot build a vocabulary of {} pieces", count));
      }
      const std::string& left = pick(starts_, rng);
      const std::string& right = pick(continuations_, rng);
      std::string piece = left + right;
      if (piece.size() > kMaxPieceBytes || !known_.insert(piece).second) continue;
      if (record_merges_) spec_.merges->push_back(left + " " + right);
      spec_.tokens.push_back(piece);
      starts_.push_back(piece);
      if (piece.compare(0, starts_[0].size(), starts_[0]) != 0) continuations_.push_back(piece);
      ++made;
    }
  }

 private:
  // Earlier (shorter) entries are likelier: index = size * u^2.
  static const std::string& pick(const std::vector<std::string>& from, SplitMix64& rng) {
    const double u = rng.uniform();
    return from[static_cast<size_t>(static_cast<double>(from.size()) * u * u)];
  }

  TokenizerSpec& spec_;
  bool record_merges_;
  std::unordered_set<std::string> known_;
  std::vector<std::string> starts_;
  std::vector<std::string> continuations_;
};

int64_t base_symbols(const Recipe& r) {
  // SPM: 256 byte tokens, "▁" and the 94 printable ASCII characters; BPE: the 256 byte characters.
  return r.bpe ? 256 : 256 + 1 + 94;
}

}  // namespace

std::string_view vocab_family_name(VocabFamily family) {
  switch (family) {
    case VocabFamily::kLlamaSpm:
      return "llama-spm";
    case VocabFamily::kGemmaSpm:
      return "gemma-spm";
    case VocabFamily::kLlama3Bpe:
      return "llama3-bpe";
    case VocabFamily::kQwen2Bpe:
      return "qwen2-bpe";
    case VocabFamily::kPhi4Bpe:
      return "phi4-bpe";
    case VocabFamily::kCohereBpe:
      return "cohere-bpe";
  }
  return "?";
}

int64_t min_vocab_size(VocabFamily family) {
  const Recipe r = recipe_of(family);
  return static_cast<int64_t>(r.leading.size() + r.trailing.size()) + base_symbols(r);
}

TokenizerSpec build_synth_vocab(VocabFamily family, int64_t n_vocab, int64_t n_reserved) {
  const Recipe r = recipe_of(family);
  const int64_t min_size = min_vocab_size(family);
  if (n_vocab < min_size) {
    throw InvalidArgumentError(fmt::format("a {} vocabulary needs at least {} tokens, not {}",
                                           vocab_family_name(family), min_size, n_vocab));
  }
  const int64_t reserved =
      r.reserved_pattern.empty() ? 0 : std::clamp<int64_t>(n_reserved, 0, n_vocab - min_size);
  const int64_t n_pieces = n_vocab - min_size - reserved;

  TokenizerSpec spec;
  spec.model = r.bpe ? "gpt2" : "llama";
  spec.pre = std::string(r.pre);
  spec.tokens.reserve(static_cast<size_t>(n_vocab));
  spec.token_types.reserve(static_cast<size_t>(n_vocab));
  const auto add = [&](std::string text, TokenType type) {
    spec.tokens.push_back(std::move(text));
    spec.token_types.push_back(static_cast<int32_t>(type));
  };
  for (const Special& s : r.leading) add(std::string(s.text), s.type);

  if (r.bpe) {
    spec.merges.emplace();
    for (int b = 0; b < 256; ++b) {
      add(std::string(byte_level::encode_byte(static_cast<uint8_t>(b))), TokenType::kNormal);
    }
    PieceBuilder(spec, byte_level::encode_byte(' '), true).build(n_pieces);
  } else {
    for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), TokenType::kByte);
    add(std::string(kSpmSpace), TokenType::kNormal);
    for (int c = '!'; c <= '~'; ++c) add(std::string(1, static_cast<char>(c)), TokenType::kNormal);
    PieceBuilder(spec, kSpmSpace, false).build(n_pieces);
  }
  spec.token_types.resize(spec.tokens.size(), static_cast<int32_t>(TokenType::kNormal));

  for (const Special& s : r.trailing) add(std::string(s.text), s.type);
  for (int64_t i = 0; i < reserved; ++i) {
    const auto id = static_cast<int64_t>(spec.tokens.size());
    add(fmt::format(fmt::runtime(r.reserved_pattern), r.reserved_first + i, id), r.reserved_type);
  }

  if (!r.bpe) {
    // SentencePiece merges the bigram whose piece scores highest: earlier (shorter) pieces first.
    spec.scores.assign(spec.tokens.size(), 0.0f);
    for (size_t i = 0; i < spec.tokens.size(); ++i) {
      if (spec.token_types[i] == static_cast<int32_t>(TokenType::kNormal)) {
        spec.scores[i] = -static_cast<float>(i);
      }
    }
  }

  const auto id_of = [&](std::string_view text) -> std::optional<int64_t> {
    if (text.empty()) return int64_t{-1};  // "none", as converters write it
    const auto it = std::find(spec.tokens.begin(), spec.tokens.end(), text);
    return static_cast<int64_t>(it - spec.tokens.begin());
  };
  spec.bos_id = id_of(r.bos);
  spec.eos_id = id_of(r.eos);
  if (!r.unk.empty()) spec.unk_id = id_of(r.unk);
  spec.pad_id = id_of(r.pad);
  spec.add_bos = r.add_bos;
  spec.add_space_prefix = r.add_space_prefix;
  return spec;
}

void write_tokenizer_metadata(const TokenizerSpec& spec, gguf::GgufWriter& w) {
  w.set_string("tokenizer.ggml.model", spec.model);
  if (!spec.pre.empty()) w.set_string("tokenizer.ggml.pre", spec.pre);
  w.set_strings("tokenizer.ggml.tokens", spec.tokens);
  if (!spec.scores.empty()) w.set_f32s("tokenizer.ggml.scores", spec.scores);
  w.set_i32s("tokenizer.ggml.token_type", spec.token_types);
  if (spec.merges) w.set_strings("tokenizer.ggml.merges", *spec.merges);
  const auto set_id = [&](std::string_view key, const std::optional<int64_t>& id) {
    // -1 ("none") is written as 0xFFFFFFFF, as llama.cpp's converters do.
    if (id) w.set_u32(key, static_cast<uint32_t>(*id));
  };
  set_id("tokenizer.ggml.bos_token_id", spec.bos_id);
  set_id("tokenizer.ggml.eos_token_id", spec.eos_id);
  set_id("tokenizer.ggml.unknown_token_id", spec.unk_id);
  set_id("tokenizer.ggml.padding_token_id", spec.pad_id);
  if (spec.add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *spec.add_bos);
  if (spec.add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *spec.add_eos);
  if (spec.add_space_prefix) w.set_bool("tokenizer.ggml.add_space_prefix", *spec.add_space_prefix);
}

}  // namespace capibara::tools
