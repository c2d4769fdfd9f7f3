// SentencePiece bigram merging (see spm.hpp). The merge order must match llama.cpp's
// `llm_tokenizer_spm` exactly, because models are trained on the ids it produces.
#include "tokenizer/spm.hpp"

#include <algorithm>
#include <queue>
#include <string>

#include <fmt/format.h>

#include "tokenizer/utf8.hpp"

namespace capibara {

namespace {

// One piece of the text in a doubly linked list; a merged-away piece has `length` 0.
struct Symbol {
  int32_t prev;
  int32_t next;  // -1 at the end
  size_t offset;
  size_t length;
};

struct Bigram {
  int32_t left;
  int32_t right;
  float score;
  size_t length;  // bytes of the merged text, to detect entries made stale by other merges
};

// "Less" for the max-heap: the highest score pops first, ties go to the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab, int32_t unk_id) {
  for (int byte = 0; byte < 256; ++byte) {
    int32_t id = vocab.find(fmt::format("<0x{:02X}>", byte));
    if (id < 0) id = vocab.find(std::string(1, static_cast<char>(byte)));
    byte_tokens_[static_cast<size_t>(byte)] = id >= 0 ? id : unk_id;
  }
}

void SpmEncoder::encode(const Vocab& vocab, std::string_view text,
                        std::vector<int32_t>& out) const {
  if (text.empty()) return;

  // Split into "characters" by the lead byte alone, as llama.cpp does (so a stray continuation
  // byte is a character of its own, and a truncated sequence ends at the text's end).
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t length = std::min(utf8::lead_length(text[offset]), text.size() - offset);
    const auto index = static_cast<int32_t>(symbols.size());
    const bool last = offset + length == text.size();
    symbols.push_back({index - 1, last ? -1 : index + 1, offset, length});
    offset += length;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto try_add_bigram = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const std::string_view merged = text.substr(l.offset, l.length + r.length);
    const int32_t id = vocab.find(merged);
    if (id < 0) return;
    queue.push({left, right, vocab[id].score, merged.size()});
  };

  for (size_t i = 1; i < symbols.size(); ++i) {
    try_add_bigram(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Skip pairs of which one side has been merged since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
      continue;
    }
    left.length += right.length;
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
    const std::string_view piece = text.substr(symbol.offset, symbol.length);
    const int32_t id = vocab.find(piece);
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
