// Tokenizer construction (defaults, special-token detection as llama.cpp does it), special-token
// partitioning, encode and decode for all three algorithms. GGUF reading is in
// tokenizer_gguf.cpp.
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <initializer_list>

#include <fmt/format.h>

#include "core/error.hpp"

namespace capibara {

namespace {

constexpr std::string_view kSpaceEscape = "\xE2\x96\x81";  // "▁" (U+2581), SPM's visible space

// Token texts llama.cpp (llama-vocab.cpp, `load`) recognises when the metadata names no id. A
// token found this way is also forced to be a control token.
constexpr auto kEotTexts = std::to_array<std::string_view>({
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81"
    "of\xE2\x96\x81"
    "sentence\xEF\xBD\x9C>",  // DeepSeek
    "<end_of_utterance>",
});
constexpr auto kEomTexts = std::to_array<std::string_view>({"<|eom_id|>"});
constexpr auto kFimPreTexts = std::to_array<std::string_view>({
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<\xEF\xBD\x9C"
    "fim\xE2\x96\x81"
    "begin\xEF\xBD\x9C>",
    "<PRE>",
    "\xE2\x96\x81<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
});
constexpr auto kFimSufTexts = std::to_array<std::string_view>({
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<\xEF\xBD\x9C"
    "fim\xE2\x96\x81"
    "hole\xEF\xBD\x9C>",
    "<SUF>",
    "\xE2\x96\x81<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
});
constexpr auto kFimMidTexts = std::to_array<std::string_view>({
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<\xEF\xBD\x9C"
    "fim\xE2\x96\x81"
    "end\xEF\xBD\x9C>",
    "<MID>",
    "\xE2\x96\x81<MID>",
    "<|code_middle|>",
    "<|middle|>",
});
constexpr auto kFimPadTexts =
    std::to_array<std::string_view>({"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"});
constexpr auto kFimRepTexts = std::to_array<std::string_view>(
    {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
constexpr auto kFimSepTexts = std::to_array<std::string_view>({"<|file_sep|>"});

// Tokens that end generation whatever the metadata says (llama.cpp's list), plus Cohere's
// `<|END_OF_TURN_TOKEN|>`, which capibara adds so that Command-R style chats stop at the turn end
// even when the file's eos is another token.
constexpr auto kEogTexts = std::to_array<std::string_view>({
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81"
    "of\xE2\x96\x81"
    "sentence\xEF\xBD\x9C>",
    "[e~[",
    "<|END_OF_TURN_TOKEN|>",
});

// gpt-oss (harmony) tokens that llama.cpp always renders: user-defined, whatever the file says.
constexpr auto kAlwaysRenderedTexts =
    std::to_array<std::string_view>({"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"});

template <size_t N>
bool contains(const std::array<std::string_view, N>& texts, std::string_view text) {
  return std::find(texts.begin(), texts.end(), text) != texts.end();
}

// The C locale's `isspace`, without its undefined behaviour for negative `char`s.
bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Whether `[begin, end)` shares at least one byte with a range of `literal` (sorted,
// non-overlapping, so their ends are sorted too). An empty range shares no byte with anything.
bool overlaps_literal(std::span<const TextRange> literal, size_t begin, size_t end) {
  // The ranges before the first one that ends after `begin` end at or before it. From there on,
  // a non-empty range that starts before `end` overlaps; only empty ones are stepped over.
  auto it = std::upper_bound(literal.begin(), literal.end(), begin,
                             [](size_t pos, const TextRange& r) { return pos < r.end; });
  for (; it != literal.end() && it->begin < end; ++it) {
    if (it->begin < it->end) return true;
  }
  return false;
}

void check_literal_ranges(std::span<const TextRange> literal, size_t text_bytes) {
  size_t previous_end = 0;
  for (size_t i = 0; i < literal.size(); ++i) {
    const TextRange& r = literal[i];
    if (r.begin > r.end || r.end > text_bytes) {
      throw InvalidArgumentError(
          fmt::format("literal range {} [{}, {}) is not a range of the {}-byte text", i, r.begin,
                      r.end, text_bytes));
    }
    if (r.begin < previous_end) {
      throw InvalidArgumentError(fmt::format(
          "literal range {} [{}, {}) starts before the previous range ends (byte {}); ranges "
          "must be sorted and must not overlap",
          i, r.begin, r.end, previous_end));
    }
    previous_end = r.end;
  }
}

TokenizerKind kind_from_model(std::string_view model) {
  if (model == "llama") return TokenizerKind::kSpm;
  if (model == "gpt2") return TokenizerKind::kBpe;
  if (model == "bert") return TokenizerKind::kWpm;
  std::string_view family = "";
  if (model == "t5") family = " (Unigram)";
  if (model == "rwkv") family = " (RWKV)";
  throw UnsupportedError(
      fmt::format("tokenizer model '{}'{} is not supported; capibara implements 'llama' "
                  "(SentencePiece), 'gpt2' (byte-level BPE) and 'bert' (WordPiece)",
                  model, family));
}

// A special id from the metadata: absent -> `fallback` (when in range); -1 or 0xFFFFFFFF -> none;
// out of range -> `FormatError` when `strict`, else the fallback (llama.cpp warns and ignores).
int32_t resolve_id(std::optional<int64_t> value, int32_t fallback, int32_t n_vocab,
                   std::string_view key, bool strict) {
  const int32_t in_range_fallback = fallback >= 0 && fallback < n_vocab ? fallback : -1;
  if (!value) return in_range_fallback;
  if (*value == -1 || *value == 0xFFFFFFFFLL) return -1;
  if (*value >= 0 && *value < n_vocab) return static_cast<int32_t>(*value);
  if (strict) {
    throw FormatError(fmt::format("tokenizer.ggml.{} = {} is outside the vocabulary of {} tokens",
                                  key, *value, n_vocab));
  }
  return in_range_fallback;
}

// "<0x0A>" -> 0x0A; nullopt when `text` is not of that form.
std::optional<char> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>') return std::nullopt;
  int value = 0;
  for (const char c : text.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return static_cast<char>(static_cast<unsigned char>(value));
}

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.substr(pos).starts_with(kSpaceEscape)) {
      out.push_back(' ');
      pos += kSpaceEscape.size();
    } else {
      out.push_back(text[pos]);
      ++pos;
    }
  }
  return out;
}

const std::string kEmpty;

}  // namespace

Tokenizer::Tokenizer(TokenizerSpec spec) {
  kind_ = kind_from_model(spec.model);

  const size_t n = spec.tokens.size();
  if (n == 0) throw FormatError("the vocabulary (tokenizer.ggml.tokens) is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    throw FormatError(fmt::format("the vocabulary has {} tokens, more than ids can address", n));
  }
  if (!spec.scores.empty() && spec.scores.size() != n) {
    throw FormatError(fmt::format("tokenizer.ggml.scores has {} entries, tokenizer.ggml.tokens {}",
                                  spec.scores.size(), n));
  }
  if (!spec.token_types.empty() && spec.token_types.size() != n) {
    throw FormatError(
        fmt::format("tokenizer.ggml.token_type has {} entries, tokenizer.ggml.tokens {}",
                    spec.token_types.size(), n));
  }

  std::vector<Vocab::Token> tokens(n);
  for (size_t i = 0; i < n; ++i) {
    Vocab::Token& token = tokens[i];
    token.text = std::move(spec.tokens[i]);
    token.score = spec.scores.empty() ? 0.0f : spec.scores[i];
    token.type =
        spec.token_types.empty() ? TokenType::kNormal : static_cast<TokenType>(spec.token_types[i]);
    token.attr = attr_from_type(token.type);
  }
  vocab_ = Vocab(std::move(tokens));

  set_defaults(spec);
  finish_special_tokens(spec);

  switch (kind_) {
    case TokenizerKind::kSpm:
      spm_ = SpmEncoder(vocab_, unk_id_);
      break;
    case TokenizerKind::kBpe: {
      const std::optional<BpePreTokenizerInfo> pre = find_bpe_pre_tokenizer(pre_);
      bpe_ = BpeEncoder(vocab_, *spec.merges, *pre);
      break;
    }
    case TokenizerKind::kWpm: {
      WpmOptions options;
      if (spec.normalizer_lowercase) options.lowercase = *spec.normalizer_lowercase;
      options.strip_accents = options.lowercase;
      if (spec.normalizer_strip_accents) options.strip_accents = *spec.normalizer_strip_accents;
      wpm_ = WpmEncoder(vocab_, unk_id_, options);
      break;
    }
  }
  build_pieces();
}

void Tokenizer::set_defaults(const TokenizerSpec& spec) {
  const int32_t n_vocab = vocab_.size();
  // Defaults per model type, as llama.cpp sets them before reading the metadata.
  int32_t default_bos = -1;
  int32_t default_eos = -1;
  int32_t default_unk = -1;
  int32_t default_sep = -1;
  int32_t default_pad = -1;
  switch (kind_) {
    case TokenizerKind::kSpm:
      default_bos = 1;
      default_eos = 2;
      default_unk = 0;
      add_bos_ = true;
      add_space_prefix_ = true;
      break;
    case TokenizerKind::kBpe: {
      if (!spec.merges) {
        throw FormatError(
            "tokenizer.ggml.merges is missing: a byte-level BPE ('gpt2') vocabulary needs it");
      }
      pre_ = spec.pre;
      if (pre_.empty()) {
        pre_ = "default";
        warnings_.push_back(
            "tokenizer.ggml.pre is missing: using the 'default' pre-tokenizer, as llama.cpp "
            "does (the tokens may differ from the model's own tokenizer; consider regenerating "
            "the GGUF file)");
      }
      const std::optional<BpePreTokenizerInfo> pre = find_bpe_pre_tokenizer(pre_);
      if (!pre) {
        throw UnsupportedError(fmt::format(
            "BPE pre-tokenizer '{}' (tokenizer.ggml.pre) is not supported; capibara implements "
            "default, gpt-2, llama-bpe (llama3), qwen2, deepseek-llm, deepseek-coder, falcon, "
            "starcoder, refact, command-r, smollm, mpt, olmo and their aliases",
            pre_));
      }
      // llama.cpp's defaults are Falcon's ids; real files name their own.
      default_bos = 11;
      default_eos = 11;
      add_bos_ = pre->add_bos;
      clean_spaces_ = pre->clean_spaces;
      break;
    }
    case TokenizerKind::kWpm:
      default_bos = 101;  // [CLS]
      default_unk = 100;  // [UNK]
      default_sep = 102;  // [SEP]
      default_pad = 0;    // [PAD]
      add_bos_ = true;
      add_sep_ = true;
      clean_spaces_ = true;
      break;
  }
  bos_id_ = resolve_id(spec.bos_id, default_bos, n_vocab, "bos_token_id", true);
  eos_id_ = resolve_id(spec.eos_id, default_eos, n_vocab, "eos_token_id", true);
  unk_id_ = resolve_id(spec.unk_id, default_unk, n_vocab, "unknown_token_id", true);
  eot_id_ = resolve_id(spec.eot_id, -1, n_vocab, "eot_token_id", true);
  eom_id_ = resolve_id(spec.eom_id, -1, n_vocab, "eom_token_id", false);
  pad_id_ = resolve_id(spec.pad_id, default_pad, n_vocab, "padding_token_id", false);
  sep_id_ = resolve_id(spec.sep_id, default_sep, n_vocab, "seperator_token_id", false);
  if (spec.add_bos) add_bos_ = *spec.add_bos;
  if (spec.add_eos) add_eos_ = *spec.add_eos;
  if (spec.add_sep && kind_ == TokenizerKind::kWpm) add_sep_ = *spec.add_sep;
  if (spec.add_space_prefix) add_space_prefix_ = *spec.add_space_prefix;
  if (add_bos_ && bos_id_ < 0) {
    throw FormatError("tokenizer.ggml.add_bos_token is true, but there is no BOS token");
  }
  if (add_eos_ && eos_id_ < 0) {
    throw FormatError("tokenizer.ggml.add_eos_token is true, but there is no EOS token");
  }
  if (add_sep_ && sep_id_ < 0) {
    throw FormatError("tokenizer.ggml.add_sep_token is true, but there is no SEP token");
  }
}

void Tokenizer::finish_special_tokens(const TokenizerSpec& spec) {
  const int32_t n_vocab = vocab_.size();
  int32_t fim_pre = -1;
  int32_t fim_suf = -1;
  int32_t fim_mid = -1;
  int32_t fim_pad = resolve_id(spec.fim_pad_id, -1, n_vocab, "fim_pad_token_id", false);
  int32_t fim_rep = resolve_id(spec.fim_rep_id, -1, n_vocab, "fim_rep_token_id", false);
  int32_t fim_sep = resolve_id(spec.fim_sep_id, -1, n_vocab, "fim_sep_token_id", false);

  // Ids the metadata does not give are detected by text; such a token becomes a control token
  // (llama.cpp: "control-looking token ... was not control-type").
  const auto detect = [&](int32_t& id, const auto& texts) {
    if (id >= 0) return;
    for (int32_t i = 0; i < n_vocab; ++i) {
      if (contains(texts, vocab_[i].text)) {
        id = i;
        vocab_[i].attr |= token_attr::kControl;
        return;
      }
    }
  };
  detect(eot_id_, kEotTexts);
  detect(eom_id_, kEomTexts);
  detect(fim_pre, kFimPreTexts);
  detect(fim_suf, kFimSufTexts);
  detect(fim_mid, kFimMidTexts);
  detect(fim_pad, kFimPadTexts);
  detect(fim_rep, kFimRepTexts);
  detect(fim_sep, kFimSepTexts);

  std::vector<int32_t> eog;
  for (const int32_t id : {fim_pad, fim_rep, fim_sep}) {
    if (id >= 0) eog.push_back(id);
  }
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (contains(kEogTexts, vocab_[i].text)) {
      eog.push_back(i);
      vocab_[i].attr |= token_attr::kControl;
    }
  }
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (contains(kAlwaysRenderedTexts, vocab_[i].text)) vocab_[i].attr = token_attr::kUserDefined;
  }
  for (const int32_t id : {eos_id_, eot_id_, eom_id_}) {
    if (id >= 0) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());

  const auto find_eog = [&](std::string_view text) -> int32_t {
    for (const int32_t id : eog) {
      if (vocab_[id].text == text) return id;
    }
    return -1;
  };
  const auto drop_eog = [&](int32_t id, uint32_t new_attr) {
    eog.erase(std::find(eog.begin(), eog.end(), id));
    vocab_[id].attr = new_attr;
  };
  // Harmony (gpt-oss) and solar-open end a message with `<|end|>` but keep generating after it.
  const int32_t end_id = find_eog("<|end|>");
  const bool has_call = find_eog("<|call|>") >= 0 || find_eog("<|calls|>") >= 0;
  if (end_id >= 0 && has_call && (find_eog("<|return|>") >= 0 || find_eog("<|flush|>") >= 0)) {
    drop_eog(end_id, token_attr::kUserDefined);
  }
  // Gemma 4 (and PaddleOCR) use `</s>` as ordinary text.
  const int32_t s_id = find_eog("</s>");
  if (s_id >= 0 && find_eog("<|tool_response>") >= 0) drop_eog(s_id, token_attr::kNormal);
  eog_ids_ = std::move(eog);

  // Special-token parsing tries the longest texts first.
  constexpr uint32_t kSpecial =
      token_attr::kControl | token_attr::kUserDefined | token_attr::kUnknown;
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (vocab_.has_attr(i, kSpecial)) special_tokens_.push_back(i);
  }
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(), [&](int32_t a, int32_t b) {
    return vocab_[a].text.size() > vocab_[b].text.size();
  });

  // Per-model attributes llama.cpp sets by pre-tokenizer or model name (one rule at most, in
  // its order): Jina v2's "<mask>" eats the whitespace before it, Phi-3 strips whitespace after
  // its special tokens, ModernBERT's "[MASK]" eats the whitespace before it. (llama.cpp also
  // matches the architectures nomic-bert-moe and jina-bert-v3, whose tokenizers are not BPE.)
  std::string name = spec.model_name;
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  const auto contains_any = [](std::string_view text,
                               std::initializer_list<std::string_view> parts) {
    return std::any_of(parts.begin(), parts.end(),
                       [&](std::string_view part) { return text.find(part) != text.npos; });
  };
  const auto set_lstrip = [&](std::string_view text) {
    if (const int32_t id = vocab_.find(text); id >= 0) vocab_[id].attr |= token_attr::kLstrip;
  };
  if (contains_any(spec.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"})) {
    set_lstrip("<mask>");
  } else if (contains_any(name, {"phi-3", "phi3"})) {
    for (const int32_t id : special_tokens_) vocab_[id].attr |= token_attr::kRstrip;
    if (const int32_t id = vocab_.find("</s>"); id >= 0) vocab_[id].attr |= token_attr::kRstrip;
    for (const std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (const int32_t id = vocab_.find(text); id >= 0) vocab_[id].attr &= ~token_attr::kRstrip;
    }
  } else if (contains_any(name, {"modern-bert"})) {
    set_lstrip("[MASK]");
  }
}

void Tokenizer::build_pieces() {
  const int32_t n_vocab = vocab_.size();
  pieces_.resize(static_cast<size_t>(n_vocab));
  for (int32_t id = 0; id < n_vocab; ++id) {
    const Vocab::Token& token = vocab_[id];
    std::string& piece = pieces_[static_cast<size_t>(id)];
    // Same precedence as llama.cpp's `token_to_piece`: special texts verbatim, then normal
    // tokens with "▁" unescaped, then byte tokens; anything else (unused, undefined) is empty.
    if (token.attr & (token_attr::kControl | token_attr::kUnknown | token_attr::kUserDefined)) {
      piece = token.text;
    } else if (token.attr & token_attr::kNormal) {
      piece = kind_ == TokenizerKind::kBpe ? byte_level::decode_text(token.text)
                                           : unescape_spaces(token.text);
    } else if (token.attr & token_attr::kByte) {
      const std::optional<char> byte = parse_byte_token(token.text);
      if (!byte) {
        throw FormatError(
            fmt::format("token {} is typed as a byte, but its text '{}' is not "
                        "of the form <0xNN>",
                        id, token.text));
      }
      piece.assign(1, *byte);
    }
  }
}

bool Tokenizer::is_eog(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

bool Tokenizer::is_control(int32_t id) const {
  return vocab_.contains(id) && vocab_.has_attr(id, token_attr::kControl);
}

TokenType Tokenizer::token_type(int32_t id) const {
  return vocab_.contains(id) ? vocab_[id].type : TokenType::kUndefined;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  return vocab_.contains(id) ? vocab_[id].text : kEmpty;
}

std::string_view Tokenizer::piece(int32_t id, bool render_special) const {
  if (!vocab_.contains(id)) return {};
  if (!render_special && vocab_.has_attr(id, token_attr::kControl | token_attr::kUnknown)) {
    return {};
  }
  return pieces_[static_cast<size_t>(id)];
}

std::vector<Tokenizer::Fragment> Tokenizer::partition(std::string_view text, bool parse_special,
                                                      std::span<const TextRange> literal) const {
  // Like llama.cpp's `tokenizer_st_partition`: each special token in turn (longest first) splits
  // every raw-text fragment left by the previous ones at all its occurrences. An occurrence that
  // overlaps a `literal` range is not one: the search goes on from its next byte, so a later
  // occurrence that starts inside it but lies outside the ranges still counts.
  std::vector<Fragment> fragments{{-1, 0, text.size()}};
  std::vector<Fragment> next;
  for (const int32_t special : special_tokens_) {
    const Vocab::Token& token = vocab_[special];
    if (!parse_special && (token.attr & (token_attr::kControl | token_attr::kUnknown))) continue;
    const std::string_view needle = token.text;
    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.token >= 0) {
        next.push_back(fragment);
        continue;
      }
      size_t base = fragment.offset;
      size_t length = fragment.length;
      size_t search_from = base;
      while (true) {
        const size_t match = text.substr(0, base + length).find(needle, search_from);
        if (match == std::string_view::npos) {
          next.push_back({-1, base, length});
          break;
        }
        if (!literal.empty() && overlaps_literal(literal, match, match + needle.size())) {
          search_from = match + 1;
          continue;
        }
        size_t left_length = match - base;
        if (token.attr & token_attr::kLstrip) {
          while (left_length > 0 && is_ascii_space(text[base + left_length - 1])) --left_length;
        }
        if (left_length > 0) next.push_back({-1, base, left_length});
        next.push_back({special, 0, 0});
        const size_t end = match + needle.size();
        size_t right_offset = end;
        size_t right_length = base + length - end;
        if (token.attr & token_attr::kRstrip) {
          while (right_length > 0 && is_ascii_space(text[right_offset])) {
            ++right_offset;
            --right_length;
          }
        }
        if (right_length == 0) break;
        base = right_offset;
        length = right_length;
        search_from = base;
      }
    }
    std::swap(fragments, next);
  }
  return fragments;
}

void Tokenizer::encode_text(std::string_view text, bool after_special,
                            std::vector<int32_t>& out) const {
  switch (kind_) {
    case TokenizerKind::kSpm: {
      std::string escaped;
      escaped.reserve(text.size() + kSpaceEscape.size() * 4);
      // SentencePiece marks a word start with "▁"; the text start (or the start after a special
      // token) counts as one.
      if (add_space_prefix_ && after_special) escaped.append(kSpaceEscape);
      for (const char c : text) {
        if (c == ' ') {
          escaped.append(kSpaceEscape);
        } else {
          escaped.push_back(c);
        }
      }
      spm_.encode(vocab_, escaped, out);
      break;
    }
    case TokenizerKind::kBpe:
      bpe_.encode(vocab_, text, out);
      break;
    case TokenizerKind::kWpm:
      wpm_.encode(vocab_, text, out);
      break;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  return encode(text, add_special, parse_special, {});
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                                       std::span<const TextRange> literal) const {
  check_literal_ranges(literal, text.size());
  std::vector<int32_t> out;
  if (add_special && add_bos_) out.push_back(bos_id_);
  if (!text.empty()) {
    bool after_special = true;
    for (const Fragment& fragment : partition(text, parse_special, literal)) {
      if (fragment.token >= 0) {
        out.push_back(fragment.token);
        after_special = true;
      } else {
        encode_text(text.substr(fragment.offset, fragment.length), after_special, out);
        after_special = false;
      }
    }
  }
  if (add_special && add_eos_) out.push_back(eos_id_);
  if (add_special && add_sep_) out.push_back(sep_id_);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  // SPM marks the text start with a space; WPM starts every word with one ("▁").
  const bool strip_first_space = add_space_prefix_ || kind_ == TokenizerKind::kWpm;
  std::string out;
  bool at_start = true;
  for (const int32_t id : ids) {
    std::string_view p = piece(id, render_special);
    if (at_start && id == bos_id_) {
      out.append(p);
      continue;
    }
    if (at_start && strip_first_space && p.starts_with(' ')) p.remove_prefix(1);
    at_start = false;
    out.append(p);
  }
  return out;
}

std::string clean_up_spaces(std::string_view text) {
  // The three in-place passes of llama.cpp's `llama_vocab::impl::detokenize`, kept in place
  // because the second one reads the NUL it writes over a removed space.
  std::string t(text);
  size_t total = t.size();

  // " ?" " !" " ." " ," lose their space.
  const size_t total1 = total;
  total = total1 > 0 ? 1 : 0;
  for (size_t i = 1; i < total1; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    t[total++] = x;
  }

  // " ' " becomes "'".
  const size_t total2 = total;
  total = total2 > 0 ? 1 : 0;
  for (size_t i = 1; i < total2; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < total2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --total;        // the space before
      t[++i] = '\0';  // the space after
    }
    t[total++] = x;
  }

  // " 's" " 'm" " 're" " 've" lose their space (" 't" " 'd" " 'll" keep it).
  const size_t total3 = total;
  total = total3 > 0 ? 1 : 0;
  for (size_t i = 1; i < total3; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    t[total++] = x;
  }
  t.resize(total);
  return t;
}

}  // namespace capibara
