// SentencePiece bigram merging (see spm.hpp). The merge order must match llama.cpp's
// `llm_tokenizer_spm` exactly, because models are trained on the ids it produces.
#include "tokenizer/spm.hpp"

#include <algorithm>
#include <optional>
#include <span>
#include <string>

#include <fmt/format.h>

#include "tokenizer/utf8.hpp"
#include "tokenizer/word_cache.hpp"

namespace capibara {

namespace {

constexpr std::string_view kSpaceEscape = "\xE2\x96\x81";  // "▁"

}  // namespace

// One piece of the text in a doubly linked list; a merged-away piece has `length` 0.
struct SpmEncoder::Symbol {
  int32_t prev;
  int32_t next;  // -1 at the end
  size_t offset;
  size_t length;
  int32_t id;  // token of a merged piece; -1 for a single character (looked up at the end)
};

struct SpmEncoder::Bigram {
  int32_t left;
  int32_t right;
  float score;
  size_t length;  // bytes of the merged text, to detect entries made stale by other merges
  int32_t id;     // the token the merged text is
};

namespace {

// "Less" for the max-heap: the highest score pops first, ties go to the leftmost pair.
struct BigramOrder {
  template <typename B>
  bool operator()(const B& a, const B& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab, int32_t unk_id) {
  for (int byte = 0; byte < 256; ++byte) {
    int32_t id = vocab.find(fmt::format("<0x{:02X}>", byte));
    if (id < 0) id = vocab.find(std::string(1, static_cast<char>(byte)));
    byte_tokens_[static_cast<size_t>(byte)] = id >= 0 ? id : unk_id;
    char_tokens_[static_cast<size_t>(byte)] = vocab.find(std::string(1, static_cast<char>(byte)));
  }
  for (int32_t id = 0; id < vocab.size(); ++id) {
    std::string_view text = vocab[id].text;
    while (text.starts_with(kSpaceEscape)) text.remove_prefix(kSpaceEscape.size());
    // Characters as the encoder splits them (by lead byte), each checked for a "▁" after it.
    for (size_t pos = 0; pos < text.size();) {
      const size_t length = std::min(utf8::lead_length(text[pos]), text.size() - pos);
      if (text.substr(pos + length).starts_with(kSpaceEscape)) {
        const std::string c(text.substr(pos, length));
        if (std::find(joins_space_.begin(), joins_space_.end(), c) == joins_space_.end()) {
          joins_space_.push_back(c);
        }
      }
      pos += length;
    }
  }
}

void SpmEncoder::encode(const Vocab& vocab, std::string_view text,
                        std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;  // the characters of the current chunk, then its merged pieces
  std::vector<Bigram> queue;
  std::optional<WordCache> cache;
  if (WordCache::worth_it(text.size())) cache.emplace(text.size());

  size_t chunk_begin = 0;
  const auto finish_chunk = [&](size_t chunk_end) {
    const std::string_view chunk_text = text.substr(chunk_begin, chunk_end - chunk_begin);
    chunk_begin = chunk_end;
    if (cache && cache->lookup(chunk_text, out)) {
      symbols.clear();
      return;
    }
    const size_t first = out.size();
    merge_chunk(vocab, text, symbols, queue, out);
    symbols.clear();
    if (cache) cache->remember(chunk_text, std::span(out).subspan(first));
  };

  // Split into "characters" by the lead byte alone, as llama.cpp does (so a stray continuation
  // byte is a character of its own, and a truncated sequence ends at the text's end).
  std::string_view previous;  // the character before `offset`
  for (size_t offset = 0; offset < text.size();) {
    const size_t length = std::min(utf8::lead_length(text[offset]), text.size() - offset);
    const std::string_view c = text.substr(offset, length);
    if (c == kSpaceEscape && !previous.empty() && previous != kSpaceEscape &&
        std::find(joins_space_.begin(), joins_space_.end(), previous) == joins_space_.end()) {
      finish_chunk(offset);
    }
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, index + 1, offset, length, -1});
    previous = c;
    offset += length;
  }
  finish_chunk(text.size());
}

void SpmEncoder::merge_chunk(const Vocab& vocab, std::string_view text,
                             std::vector<Symbol>& symbols, std::vector<Bigram>& queue,
                             std::vector<int32_t>& out) const {
  if (symbols.empty()) return;
  queue.clear();
  const auto n = static_cast<int32_t>(symbols.size());
  symbols.back().next = -1;

  const BigramOrder order;
  const auto try_add_bigram = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const std::string_view merged = text.substr(l.offset, l.length + r.length);
    const int32_t id = vocab.find(merged);
    if (id < 0) return;
    queue.push_back({left, right, vocab[id].score, merged.size(), id});
    std::push_heap(queue.begin(), queue.end(), order);
  };

  for (int32_t i = 1; i < n; ++i) try_add_bigram(i - 1, i);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), order);
    const Bigram bigram = queue.back();
    queue.pop_back();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Skip pairs of which one side has been merged since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
      continue;
    }
    left.length += right.length;
    left.id = bigram.id;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add_bigram(left.prev, bigram.left);
    try_add_bigram(bigram.left, left.next);
  }

  // Every merged symbol is a vocabulary token by construction (a pair is queued only when its
  // text is one), so only single characters can be missing: those fall back to byte tokens.
  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& symbol = symbols[static_cast<size_t>(i)];
    if (symbol.id >= 0) {
      out.push_back(symbol.id);
      continue;
    }
    const std::string_view piece = text.substr(symbol.offset, symbol.length);
    const int32_t id =
        piece.size() == 1 ? char_tokens_[static_cast<uint8_t>(piece[0])] : vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (const char byte : piece) {
      const int32_t byte_id = byte_tokens_[static_cast<uint8_t>(byte)];
      if (byte_id >= 0) out.push_back(byte_id);
    }
  }
}

}  // namespace capibara
