// Reading the tokenizer metadata (`tokenizer.ggml.*`) out of a GGUF file.
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {

namespace {

// GGUF keys (wire format: spelled exactly as llama.cpp writes them, "seperator" included).
constexpr std::string_view kKeyModel = "tokenizer.ggml.model";
constexpr std::string_view kKeyPre = "tokenizer.ggml.pre";
constexpr std::string_view kKeyMerges = "tokenizer.ggml.merges";
constexpr std::string_view kKeyTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kKeyScores = "tokenizer.ggml.scores";
constexpr std::string_view kKeyTokenType = "tokenizer.ggml.token_type";
constexpr std::string_view kKeyBos = "tokenizer.ggml.bos_token_id";
constexpr std::string_view kKeyEos = "tokenizer.ggml.eos_token_id";
constexpr std::string_view kKeyUnk = "tokenizer.ggml.unknown_token_id";
constexpr std::string_view kKeyEot = "tokenizer.ggml.eot_token_id";
constexpr std::string_view kKeyEom = "tokenizer.ggml.eom_token_id";
constexpr std::string_view kKeyPad = "tokenizer.ggml.padding_token_id";
constexpr std::string_view kKeySep = "tokenizer.ggml.seperator_token_id";
constexpr std::string_view kKeyFimPad = "tokenizer.ggml.fim_pad_token_id";
constexpr std::string_view kKeyFimRep = "tokenizer.ggml.fim_rep_token_id";
constexpr std::string_view kKeyFimSep = "tokenizer.ggml.fim_sep_token_id";
constexpr std::string_view kKeyAddBos = "tokenizer.ggml.add_bos_token";
constexpr std::string_view kKeyAddEos = "tokenizer.ggml.add_eos_token";
constexpr std::string_view kKeyAddSep = "tokenizer.ggml.add_sep_token";
constexpr std::string_view kKeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix";
constexpr std::string_view kKeyLowercase = "tokenizer.ggml.normalizer.lowercase";
constexpr std::string_view kKeyStripAccents = "tokenizer.ggml.normalizer.strip_accents";
constexpr std::string_view kKeyName = "general.name";

[[noreturn]] void bad_element(const gguf::GgufFile& file, std::string_view key, size_t index,
                              std::string_view expected) {
  throw FormatError(
      fmt::format("{}: element {} of '{}' is not {}", file.display_name(), index, key, expected));
}

}  // namespace

TokenizerSpec Tokenizer::read_spec(const gguf::GgufFile& file) {
  TokenizerSpec spec;
  spec.model = std::string(file.require_string(kKeyModel));
  if (const auto pre = file.get_string(kKeyPre)) spec.pre = std::string(*pre);

  const gguf::Array& tokens = file.require_array(kKeyTokens);
  spec.tokens.reserve(tokens.items.size());
  for (size_t i = 0; i < tokens.items.size(); ++i) {
    const std::string* text = tokens.items[i].as_string();
    if (text == nullptr) bad_element(file, kKeyTokens, i, "a string");
    spec.tokens.push_back(*text);
  }

  if (const gguf::Array* scores = file.get_array(kKeyScores)) {
    spec.scores.reserve(scores->items.size());
    for (size_t i = 0; i < scores->items.size(); ++i) {
      const std::optional<double> score = scores->items[i].as_float();
      if (!score) bad_element(file, kKeyScores, i, "a number");
      spec.scores.push_back(static_cast<float>(*score));
    }
  }

  if (const gguf::Array* types = file.get_array(kKeyTokenType)) {
    spec.token_types.reserve(types->items.size());
    for (size_t i = 0; i < types->items.size(); ++i) {
      const std::optional<int64_t> type = types->items[i].as_int();
      if (!type || *type < INT32_MIN || *type > INT32_MAX) {
        bad_element(file, kKeyTokenType, i, "a 32-bit integer");
      }
      spec.token_types.push_back(static_cast<int32_t>(*type));
    }
  }

  if (const gguf::Array* merges = file.get_array(kKeyMerges)) {
    spec.merges.emplace();
    spec.merges->reserve(merges->items.size());
    for (size_t i = 0; i < merges->items.size(); ++i) {
      const std::string* merge = merges->items[i].as_string();
      if (merge == nullptr) bad_element(file, kKeyMerges, i, "a string");
      spec.merges->push_back(*merge);
    }
  }

  spec.bos_id = file.get_int(kKeyBos);
  spec.eos_id = file.get_int(kKeyEos);
  spec.unk_id = file.get_int(kKeyUnk);
  spec.eot_id = file.get_int(kKeyEot);
  spec.eom_id = file.get_int(kKeyEom);
  spec.pad_id = file.get_int(kKeyPad);
  spec.sep_id = file.get_int(kKeySep);
  spec.fim_pad_id = file.get_int(kKeyFimPad);
  spec.fim_rep_id = file.get_int(kKeyFimRep);
  spec.fim_sep_id = file.get_int(kKeyFimSep);
  spec.add_bos = file.get_bool(kKeyAddBos);
  spec.add_eos = file.get_bool(kKeyAddEos);
  spec.add_sep = file.get_bool(kKeyAddSep);
  spec.add_space_prefix = file.get_bool(kKeyAddSpacePrefix);
  spec.normalizer_lowercase = file.get_bool(kKeyLowercase);
  spec.normalizer_strip_accents = file.get_bool(kKeyStripAccents);
  if (const auto name = file.get_string(kKeyName)) spec.model_name = std::string(*name);
  return spec;
}

Tokenizer Tokenizer::from_gguf(const gguf::GgufFile& file) {
  TokenizerSpec spec = read_spec(file);
  // The spec checks do not know where the metadata came from: name the file.
  try {
    return Tokenizer(std::move(spec));
  } catch (const FormatError& e) {
    throw FormatError(fmt::format("{}: {}", file.display_name(), e.what()));
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(fmt::format("{}: {}", file.display_name(), e.what()));
  }
}

}  // namespace capibara
