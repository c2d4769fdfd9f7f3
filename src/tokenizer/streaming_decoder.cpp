// Incremental detokenization that never splits a UTF-8 character (see tokenizer.hpp).
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace capibara {

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(&tokenizer), render_special_(render_special) {}

std::string StreamingDecoder::push(int32_t id) {
  pending_.append(tokenizer_->piece(id, render_special_));
  const size_t complete = utf8::complete_prefix_length(pending_);
  std::string out;
  utf8::append_repaired(out, std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamingDecoder::flush() {
  std::string out;
  utf8::append_repaired(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace capibara
