// Byte-level BPE merging (see bpe.hpp). The merge order must match llama.cpp's
// `llm_tokenizer_bpe_session` exactly, because models are trained on the ids it produces.
#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <bit>
#include <optional>

#include <fmt/format.h>

#include "tokenizer/unicode.hpp"
#include "tokenizer/utf8.hpp"
#include "tokenizer/word_cache.hpp"

namespace capibara {

namespace byte_level {

namespace {

struct Tables {
  std::array<std::string, 256> byte_text;  // byte -> UTF-8 of its character
  std::array<int16_t, 0x144> cp_byte;      // character (< U+0144) -> byte, or -1
};

// The mapping of GPT-2's `bytes_to_unicode`: printable bytes keep their code point, the rest
// take U+0100, U+0101, ... in byte order.
const Tables& tables() {
  static const Tables t = [] {
    Tables r;
    r.cp_byte.fill(-1);
    const auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : next++;
      unicode::append_utf8(r.byte_text[static_cast<size_t>(b)], cp);
      r.cp_byte[cp] = static_cast<int16_t>(b);
    }
    return r;
  }();
  return t;
}

}  // namespace

std::string_view encode_byte(uint8_t byte) { return tables().byte_text[byte]; }

int decode_codepoint(uint32_t cp) {
  return cp < tables().cp_byte.size() ? tables().cp_byte[cp] : -1;
}

std::string decode_text(std::string_view text) {
  std::vector<uint32_t> cps;
  unicode::decode_utf8(text, cps);
  std::string out;
  out.reserve(text.size());
  for (const uint32_t cp : cps) {
    const int byte = decode_codepoint(cp);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
      continue;
    }
    std::string utf8;
    unicode::append_utf8(utf8, cp);
    out += "[UNK_BYTE_0x";
    for (const char c : utf8) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
    out += text;
    out += "]";
  }
  return out;
}

}  // namespace byte_level

namespace {

// Raw bytes a token text stands for when it is made of byte-level characters only.
std::optional<std::string> raw_bytes(std::string_view text) {
  std::vector<uint32_t> cps;
  unicode::decode_utf8(text, cps);
  std::string out;
  out.reserve(cps.size());
  for (const uint32_t cp : cps) {
    const int byte = byte_level::decode_codepoint(cp);
    if (byte < 0) return std::nullopt;
    out.push_back(static_cast<char>(byte));
  }
  // A text that is not valid UTF-8 cannot be spelled by byte-level characters.
  std::string again;
  for (const uint32_t cp : cps) unicode::append_utf8(again, cp);
  if (again != text) return std::nullopt;
  return out;
}

uint64_t pair_key(int32_t left, int32_t right) {
  return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
}

size_t hash_key(uint64_t key) {
  // Fibonacci hashing: the high bits of the product are well mixed.
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32);
}

}  // namespace

// Buffers reused across the words of one `encode` call.
struct BpeEncoder::Scratch {
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev;
    int32_t next;  // -1 at the end
  };
  struct Bigram {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t result;
  };
  // "Less" for the max-heap: the lowest rank pops first, ties go to the leftmost pair.
  struct BigramOrder {
    bool operator()(const Bigram& a, const Bigram& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };

  std::vector<uint32_t> cps;
  std::vector<uint32_t> offsets;  // [n_cps + 1] byte offset of each code point in `text`
  std::vector<unicode::Flags> flags;
  std::vector<uint32_t> word_lengths;
  std::string repaired;  // the text re-encoded, when the input was not valid UTF-8
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

BpeEncoder::BpeEncoder(const Vocab& vocab, std::span<const std::string> merges,
                       BpePreTokenizerInfo pre)
    : pre_(pre), n_vocab_(vocab.size()) {
  for (int b = 0; b < 256; ++b) {
    byte_symbols_[static_cast<size_t>(b)] =
        intern(vocab, std::string(byte_level::encode_byte(static_cast<uint8_t>(b))));
  }

  const size_t capacity = std::bit_ceil(std::max<size_t>(16, merges.size() * 2));
  merge_table_.assign(capacity, MergeEntry{});
  merge_mask_ = capacity - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& merge = merges[rank];
    // llama.cpp splits at the first space after the first byte; an entry without one pairs two
    // empty strings, which never match a symbol.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos || space + 1 >= merge.size()) continue;
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    const int32_t left_id = intern(vocab, left);
    const int32_t right_id = intern(vocab, right);
    const int32_t result = intern(vocab, left + right);
    insert_merge(pair_key(left_id, right_id), static_cast<int32_t>(rank), result);
    ++n_merges_;
  }

  if (pre_.ignore_merges) {
    for (int32_t id = 0; id < vocab.size(); ++id) {
      if (std::optional<std::string> raw = raw_bytes(vocab[id].text)) {
        raw_tokens_.emplace(std::move(*raw), id);
      }
    }
  }
}

int32_t BpeEncoder::intern(const Vocab& vocab, const std::string& text) {
  if (const int32_t id = vocab.find(text); id >= 0) return id;
  const auto [it, inserted] =
      extra_ids_.emplace(text, n_vocab_ + static_cast<int32_t>(extra_texts_.size()));
  if (inserted) extra_texts_.push_back(text);
  return it->second;
}

void BpeEncoder::insert_merge(uint64_t key, int32_t rank, int32_t result) {
  for (size_t i = hash_key(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    MergeEntry& e = merge_table_[i];
    if (e.key == key) return;  // a repeated pair keeps its first (lowest) rank
    if (e.key == kEmptyKey) {
      e = {key, rank, result};
      return;
    }
  }
}

const BpeEncoder::MergeEntry* BpeEncoder::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  for (size_t i = hash_key(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    const MergeEntry& e = merge_table_[i];
    if (e.key == key) return &e;
    if (e.key == kEmptyKey) return nullptr;
  }
}

void BpeEncoder::emit_symbol(const Vocab& vocab, int32_t id, std::vector<int32_t>& out) const {
  if (id < n_vocab_) {
    out.push_back(id);
    return;
  }
  // Not a token (a merge whose result is missing from the vocabulary, or a byte whose
  // character is): llama.cpp then looks up each byte of the symbol's text as a one-byte token
  // and drops the bytes that are not.
  for (const char c : extra_texts_[static_cast<size_t>(id - n_vocab_)]) {
    const int32_t byte_id = vocab.find(std::string_view(&c, 1));
    if (byte_id >= 0) out.push_back(byte_id);
  }
}

void BpeEncoder::encode_word(const Vocab& vocab, std::string_view word, Scratch& scratch,
                             std::vector<int32_t>& out) const {
  if (pre_.ignore_merges) {
    const auto it = raw_tokens_.find(word);
    if (it != raw_tokens_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() == 1) {
    emit_symbol(vocab, byte_symbols_[static_cast<uint8_t>(word[0])], out);
    return;
  }

  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_symbols_[static_cast<uint8_t>(word[static_cast<size_t>(i)])], i - 1,
                       i + 1 < n ? i + 1 : -1});
  }

  const Scratch::BigramOrder order;
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t left_id = symbols[static_cast<size_t>(left)].id;
    const int32_t right_id = symbols[static_cast<size_t>(right)].id;
    const MergeEntry* merge = find_merge(left_id, right_id);
    if (merge == nullptr) return;
    heap.push_back({merge->rank, left, right, left_id, right_id, merge->result});
    std::push_heap(heap.begin(), heap.end(), order);
  };
  for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), order);
    const Scratch::Bigram bigram = heap.back();
    heap.pop_back();
    auto& left = symbols[static_cast<size_t>(bigram.left)];
    auto& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: one side was merged (into something else) since the pair was queued.
    if (left.id != bigram.left_id || right.id != bigram.right_id) continue;
    left.id = bigram.result;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    emit_symbol(vocab, symbols[static_cast<size_t>(i)].id, out);
  }
}

void BpeEncoder::encode(const Vocab& vocab, std::string_view text,
                        std::vector<int32_t>& out) const {
  if (text.empty()) return;
  Scratch scratch;
  scratch.cps.reserve(text.size());
  scratch.offsets.reserve(text.size() + 1);
  unicode::decode_utf8(text, scratch.cps, &scratch.offsets);
  // Words are re-encoded from code points (llama.cpp's `unicode_regex_split`): only text that
  // was not valid UTF-8 changes, its bad bytes becoming U+FFFD.
  if (!utf8::is_valid(text)) {
    scratch.offsets.clear();
    for (const uint32_t cp : scratch.cps) {
      scratch.offsets.push_back(static_cast<uint32_t>(scratch.repaired.size()));
      unicode::append_utf8(scratch.repaired, cp);
    }
    text = scratch.repaired;
  }
  scratch.offsets.push_back(static_cast<uint32_t>(text.size()));

  scratch.flags.resize(scratch.cps.size());
  for (size_t i = 0; i < scratch.cps.size(); ++i) scratch.flags[i] = unicode::flags(scratch.cps[i]);
  bpe_pre_tokenize(pre_.type, scratch.cps, scratch.flags, scratch.word_lengths);

  std::optional<WordCache> cache;
  if (WordCache::worth_it(text.size())) cache.emplace(text.size());
  size_t cp_begin = 0;
  for (const uint32_t length : scratch.word_lengths) {
    const size_t byte_begin = scratch.offsets[cp_begin];
    const size_t byte_end = scratch.offsets[cp_begin + length];
    cp_begin += length;
    const std::string_view word = text.substr(byte_begin, byte_end - byte_begin);
    if (cache && cache->lookup(word, out)) continue;
    const size_t first = out.size();
    encode_word(vocab, word, scratch, out);
    if (cache) cache->remember(word, std::span(out).subspan(first));
  }
}

}  // namespace capibara
