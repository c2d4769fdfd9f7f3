// The pre-tokenizer regexes of llama.cpp's `llm_tokenizer_bpe`, as hand-written matchers (see
// bpe_pretokenizer.hpp). Each matcher's comment quotes the regex it stands for.
#include "tokenizer/bpe_pretokenizer.hpp"

#include <algorithm>
#include <array>

namespace capibara {

namespace {

using unicode::Flags;

struct NamedPreTokenizer {
  std::string_view name;
  BpePreTokenizerInfo info;
};

constexpr BpePreTokenizerInfo info(BpePreTokenizer type, bool clean_spaces,
                                   bool ignore_merges = false, bool add_bos = false) {
  return {type, ignore_merges, add_bos, clean_spaces};
}

// `tokenizer.ggml.pre` names (wire format) and what llama.cpp's `llama_vocab::impl::load` sets
// for each: only the names whose regex list is one of `BpePreTokenizer`.
constexpr auto kPreTokenizers = std::to_array<NamedPreTokenizer>({
    {"default", info(BpePreTokenizer::kDefault, true)},
    {"gpt-2", info(BpePreTokenizer::kGpt2, true)},
    {"phi-2", info(BpePreTokenizer::kGpt2, true)},
    {"jina-es", info(BpePreTokenizer::kGpt2, true)},
    {"jina-de", info(BpePreTokenizer::kGpt2, true)},
    {"gigachat", info(BpePreTokenizer::kGpt2, true)},
    {"jina-v2-es", info(BpePreTokenizer::kGpt2, true)},
    {"jina-v2-de", info(BpePreTokenizer::kGpt2, true)},
    {"jina-v1-en", info(BpePreTokenizer::kGpt2, true)},
    {"jina-v2-code", info(BpePreTokenizer::kGpt2, true)},
    {"roberta-bpe", info(BpePreTokenizer::kGpt2, true)},
    {"a.x-4.0", info(BpePreTokenizer::kGpt2, true)},
    {"mellum", info(BpePreTokenizer::kGpt2, true)},
    {"modern-bert", info(BpePreTokenizer::kGpt2, true)},
    {"exaone4", info(BpePreTokenizer::kGpt2, true)},
    {"mpt", info(BpePreTokenizer::kGpt2, true)},
    {"olmo", info(BpePreTokenizer::kGpt2, true)},
    {"jais", info(BpePreTokenizer::kGpt2, true)},
    {"trillion", info(BpePreTokenizer::kGpt2, false)},
    {"granite-docling", info(BpePreTokenizer::kGpt2, false)},
    {"llama3", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"llama-v3", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"llama-bpe", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"falcon3", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"falcon-h1", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"pixtral", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"midm-2.0", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"lfm2", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"jina-v5-nano", info(BpePreTokenizer::kLlama3, true, true, true)},
    {"dbrx", info(BpePreTokenizer::kLlama3, true)},
    {"smaug-bpe", info(BpePreTokenizer::kLlama3, true)},
    {"qwen2", info(BpePreTokenizer::kQwen2, false)},
    {"deepseek-r1-qwen", info(BpePreTokenizer::kQwen2, false)},
    {"kormo", info(BpePreTokenizer::kQwen2, false)},
    {"f2llmv2", info(BpePreTokenizer::kQwen2, false)},
    {"megrez", info(BpePreTokenizer::kQwen2, true)},
    {"stablelm2", info(BpePreTokenizer::kQwen2, true)},
    {"hunyuan", info(BpePreTokenizer::kQwen2, false)},
    {"solar-open", info(BpePreTokenizer::kQwen2, false)},
    {"grok-2", info(BpePreTokenizer::kQwen2, false)},
    {"deepseek-llm", info(BpePreTokenizer::kDeepseekLlm, false)},
    {"deepseek-coder", info(BpePreTokenizer::kDeepseekCoder, false)},
    {"falcon", info(BpePreTokenizer::kFalcon, true)},
    {"starcoder", info(BpePreTokenizer::kStarcoder, true)},
    {"refact", info(BpePreTokenizer::kStarcoder, true)},
    {"command-r", info(BpePreTokenizer::kStarcoder, false)},
    {"smollm", info(BpePreTokenizer::kStarcoder, false)},
    {"codeshell", info(BpePreTokenizer::kStarcoder, true)},
    {"exaone", info(BpePreTokenizer::kStarcoder, true)},
    {"minerva-7b", info(BpePreTokenizer::kStarcoder, true)},
    {"mellum2", info(BpePreTokenizer::kStarcoder, true)},
});

// One regex of a list.
enum class Step : uint8_t {
  kGpt2,           // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,         // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                   //   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kQwen2,          // the same with \p{N} instead of \p{N}{1,3}
  kDefaultPunct,   // [\p{P}\$\+<=>\^~\|]+
  kFalconPunct,    // [\p{P}\$\+<=>\^~\|`]+
  kNumberRun,      // \p{N}+
  kNumber,         // \p{N}
  kDigitTriple,    // [0-9][0-9][0-9]
  kNewline,        // [\r\n]
  kDsLetters,      // \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ (DeepSeek LLM's explicit letter ranges)
  kDsPunct,        // \s?[!-/:-~！-／：-～‘-‟　-。]+
  kTrailingSpace,  // \s+$
  kCjk,            // [一-龥ࠀ-一가-퟿]+
  kSpaceLetters,   // \s?\p{L}+
  kSpacePunct,     // \s?\p{P}+
};

struct Range {
  uint32_t first;
  uint32_t last;
};

// DeepSeek LLM's letter class, verbatim: mostly cased letters (Lu, Ll, Lt), with gaps. Spelled
// as code points because some of its characters (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A)
// have singleton canonical decompositions: pasted as text, an NFC-normalizing editor would
// silently turn them into other characters.
constexpr auto kDsLetterRanges = std::to_array<Range>({
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},
    {0xD8, 0xF6},       {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},
    {0x295, 0x2AF},     {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},     {0x38C, 0x38C},
    {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
});

// DeepSeek LLM's punctuation class: ASCII punctuation and letters (":-~" spans them), full-width
// forms, curly quotes, and U+3000..U+3002.
constexpr auto kDsPunctRanges = std::to_array<Range>({
    {0x21, 0x2F},
    {0x3A, 0x7E},
    {0x2018, 0x201F},
    {0x3000, 0x3002},
    {0xFF01, 0xFF0F},
    {0xFF1A, 0xFF5E},
});

// The CJK class of both DeepSeek tokenizers ("一-龥", "ࠀ-一", "가-퟿"), sorted, with the
// overlap at U+4E00 removed.
constexpr auto kCjkRanges = std::to_array<Range>({
    {0x0800, 0x4DFF},
    {0x4E00, 0x9FA5},
    {0xAC00, 0xD7FF},
});

template <size_t N>
bool in_ranges(const std::array<Range, N>& ranges, uint32_t cp) {
  // The ranges are sorted and do not overlap: the candidate is the last one starting at or
  // before `cp`.
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                   [](uint32_t value, const Range& r) { return value < r.first; });
  return it != ranges.begin() && cp <= (it - 1)->last;
}

// llama.cpp runs the regexes without Unicode categories through std::wregex, after replacing
// every non-ASCII whitespace code point by U+000B (so that `\s` matches it): such a code point
// then no longer matches an explicit range like DeepSeek's "　-。".
template <size_t N>
bool in_wregex_class(const std::array<Range, N>& ranges, uint32_t cp, Flags f) {
  if (cp > 0x7F && f.is_whitespace()) return false;
  return in_ranges(ranges, cp);
}

// A piece of the text being matched: code points [begin, end) of the whole fragment. Positions
// at or past `end` read as "no character", the end of the input for every regex.
struct Piece {
  const uint32_t* cps;
  const Flags* flags;
  size_t end;

  bool has(size_t p) const { return p < end; }
  uint32_t cp(size_t p) const { return p < end ? cps[p] : 0xFFFFFFFFu; }
  bool ws(size_t p) const { return p < end && flags[p].is_whitespace(); }
  bool letter(size_t p) const { return p < end && flags[p].is_letter(); }
  bool number(size_t p) const { return p < end && flags[p].is_number(); }
  bool punct(size_t p) const { return p < end && flags[p].is_punctuation(); }
  // [^\s\p{L}\p{N}]
  bool other(size_t p) const {
    return p < end && !flags[p].is_whitespace() && !flags[p].is_letter() && !flags[p].is_number();
  }
  bool newline(size_t p) const { return p < end && (cps[p] == '\r' || cps[p] == '\n'); }

  template <typename Pred>
  size_t run(size_t p, Pred pred) const {
    const size_t start = p;
    while (p < end && pred(p)) ++p;
    return p - start;
  }
};

uint32_t ascii_lower(uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp; }

// 's 't 're 've 'm 'll 'd at `p`: the match length, or 0. `fold_case`: (?i:...), which llama.cpp
// spells '[sS]|'[tT]|... since std::regex has no inline flags.
size_t match_contraction(const Piece& s, size_t p, bool fold_case) {
  if (s.cp(p) != '\'' || !s.has(p + 1)) return 0;
  const auto at = [&](size_t q) { return fold_case ? ascii_lower(s.cp(q)) : s.cp(q); };
  const uint32_t c1 = at(p + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (!s.has(p + 2)) return 0;
  const uint32_t c2 = at(p + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ at a whitespace `p`: the run, less its last character when a non-space follows
// and the run is longer than one (the lookahead backtracks one step).
size_t match_space_run(const Piece& s, size_t p) {
  const size_t n = s.run(p, [&](size_t q) { return s.ws(q); });
  if (n > 1 && s.has(p + n)) return n - 1;
  return n;
}

size_t match_gpt2(const Piece& s, size_t p) {
  if (const size_t n = match_contraction(s, p, false)) return n;
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
  const size_t q = s.cp(p) == ' ' ? p + 1 : p;
  if (s.letter(q)) return q - p + s.run(q, [&](size_t r) { return s.letter(r); });
  if (s.number(q)) return q - p + s.run(q, [&](size_t r) { return s.number(r); });
  if (s.other(q)) return q - p + s.run(q, [&](size_t r) { return s.other(r); });
  return match_space_run(s, p);
}

size_t match_llama3(const Piece& s, size_t p, size_t max_digits) {
  if (const size_t n = match_contraction(s, p, true)) return n;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (s.letter(p)) return s.run(p, [&](size_t r) { return s.letter(r); });
  if (!s.newline(p) && !s.number(p) && s.letter(p + 1)) {
    return 1 + s.run(p + 1, [&](size_t r) { return s.letter(r); });
  }
  // \p{N}{1,3} (Llama 3) or \p{N} (Qwen2)
  if (s.number(p)) return std::min(max_digits, s.run(p, [&](size_t r) { return s.number(r); }));
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  const size_t q = s.cp(p) == ' ' ? p + 1 : p;
  if (s.other(q)) {
    size_t e = q + s.run(q, [&](size_t r) { return s.other(r); });
    e += s.run(e, [&](size_t r) { return s.newline(r); });
    return e - p;
  }
  // `\s*[\r\n]+`: the whitespace run up to its last line break.
  const size_t n = s.run(p, [&](size_t r) { return s.ws(r); });
  for (size_t k = n; k > 0; --k) {
    if (s.newline(p + k - 1)) return k;
  }
  // `\s+(?!\S)|\s+`
  return match_space_run(s, p);
}

// `\s?X+` for a class `in_class`: a whitespace character joins the run that follows it.
template <typename Pred>
size_t match_space_then_run(const Piece& s, size_t p, Pred in_class) {
  if (s.ws(p) && s.has(p + 1) && in_class(p + 1)) return 1 + s.run(p + 1, in_class);
  if (in_class(p)) return s.run(p, in_class);
  return 0;
}

bool is_default_punct(const Piece& s, size_t p, bool backtick) {
  if (s.punct(p)) return true;
  switch (s.cp(p)) {
    case '$':
    case '+':
    case '<':
    case '=':
    case '>':
    case '^':
    case '~':
    case '|':
      return true;
    case '`':
      return backtick;
    default:
      return false;
  }
}

bool is_ascii_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

// Length of the match of `step` starting exactly at `p` (0 when none starts there).
size_t match_at(Step step, const Piece& s, size_t p) {
  switch (step) {
    case Step::kGpt2:
      return match_gpt2(s, p);
    case Step::kLlama3:
      return match_llama3(s, p, 3);
    case Step::kQwen2:
      return match_llama3(s, p, 1);
    case Step::kDefaultPunct:
    case Step::kFalconPunct: {
      const bool backtick = step == Step::kFalconPunct;
      return s.run(p, [&](size_t q) { return is_default_punct(s, q, backtick); });
    }
    case Step::kNumberRun:
      return s.run(p, [&](size_t q) { return s.number(q); });
    case Step::kNumber:
      return s.number(p) ? 1 : 0;
    case Step::kDigitTriple:
      return s.has(p + 2) && is_ascii_digit(s.cp(p)) && is_ascii_digit(s.cp(p + 1)) &&
                     is_ascii_digit(s.cp(p + 2))
                 ? 3
                 : 0;
    case Step::kNewline:
      return s.newline(p) ? 1 : 0;
    case Step::kDsLetters:
      return match_space_then_run(s, p, [&](size_t q) {
        return s.has(q) && in_wregex_class(kDsLetterRanges, s.cps[q], s.flags[q]);
      });
    case Step::kDsPunct:
      return match_space_then_run(s, p, [&](size_t q) {
        return s.has(q) && in_wregex_class(kDsPunctRanges, s.cps[q], s.flags[q]);
      });
    case Step::kCjk:
      return s.run(p, [&](size_t q) { return in_wregex_class(kCjkRanges, s.cps[q], s.flags[q]); });
    case Step::kSpaceLetters:
      return match_space_then_run(s, p, [&](size_t q) { return s.letter(q); });
    case Step::kSpacePunct:
      return match_space_then_run(s, p, [&](size_t q) { return s.punct(q); });
    case Step::kTrailingSpace:
      break;  // handled in `split_piece`: it needs the whole piece, not a position
  }
  return 0;
}

// Splits code points [begin, end) with one regex, as std::regex_iterator would: each match is a
// word, and so is the text between two matches.
void split_piece(Step step, const uint32_t* cps, const Flags* flags, size_t begin, size_t end,
                 std::vector<uint32_t>& out) {
  const auto emit = [&](size_t length) {
    if (length > 0) out.push_back(static_cast<uint32_t>(length));
  };
  if (step == Step::kTrailingSpace) {
    // `\s+$`: the leftmost match is the whitespace run that reaches the end of the piece.
    size_t start = end;
    while (start > begin && flags[start - 1].is_whitespace()) --start;
    emit(start - begin);
    emit(end - start);
    return;
  }
  const Piece s{cps, flags, end};
  size_t gap_start = begin;
  for (size_t p = begin; p < end;) {
    const size_t n = match_at(step, s, p);
    if (n == 0) {
      ++p;
      continue;
    }
    emit(p - gap_start);
    emit(n);
    p += n;
    gap_start = p;
  }
  emit(end - gap_start);
}

std::span<const Step> steps_of(BpePreTokenizer type) {
  static constexpr Step kDefault[] = {Step::kDefaultPunct, Step::kGpt2, Step::kNumberRun,
                                      Step::kDigitTriple};
  static constexpr Step kGpt2[] = {Step::kGpt2};
  static constexpr Step kLlama3[] = {Step::kLlama3};
  static constexpr Step kQwen2[] = {Step::kQwen2};
  static constexpr Step kDeepseekLlm[] = {Step::kNewline,       Step::kDsLetters, Step::kDsPunct,
                                          Step::kTrailingSpace, Step::kCjk,       Step::kNumberRun};
  static constexpr Step kDeepseekCoder[] = {Step::kNewline, Step::kSpaceLetters, Step::kSpacePunct,
                                            Step::kCjk, Step::kNumber};
  static constexpr Step kFalcon[] = {Step::kFalconPunct, Step::kGpt2, Step::kDigitTriple};
  static constexpr Step kStarcoder[] = {Step::kNumber, Step::kGpt2};
  switch (type) {
    case BpePreTokenizer::kDefault:
      return kDefault;
    case BpePreTokenizer::kGpt2:
      return kGpt2;
    case BpePreTokenizer::kLlama3:
      return kLlama3;
    case BpePreTokenizer::kQwen2:
      return kQwen2;
    case BpePreTokenizer::kDeepseekLlm:
      return kDeepseekLlm;
    case BpePreTokenizer::kDeepseekCoder:
      return kDeepseekCoder;
    case BpePreTokenizer::kFalcon:
      return kFalcon;
    case BpePreTokenizer::kStarcoder:
      return kStarcoder;
  }
  return kDefault;
}

}  // namespace

std::optional<BpePreTokenizerInfo> find_bpe_pre_tokenizer(std::string_view name) {
  for (const NamedPreTokenizer& p : kPreTokenizers) {
    if (p.name == name) return p.info;
  }
  return std::nullopt;
}

void bpe_pre_tokenize(BpePreTokenizer type, std::span<const uint32_t> cps,
                      std::span<const unicode::Flags> flags, std::vector<uint32_t>& word_lengths) {
  if (cps.empty()) return;
  std::vector<uint32_t> current{static_cast<uint32_t>(cps.size())};
  std::vector<uint32_t> next;
  for (const Step step : steps_of(type)) {
    next.clear();
    size_t begin = 0;
    for (const uint32_t length : current) {
      split_piece(step, cps.data(), flags.data(), begin, begin + length, next);
      begin += length;
    }
    std::swap(current, next);
  }
  word_lengths.insert(word_lengths.end(), current.begin(), current.end());
}

}  // namespace capibara
