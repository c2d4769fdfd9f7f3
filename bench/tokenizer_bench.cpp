// Tokenizer throughput: encoding ~1 MB of English prose with a byte-level BPE vocabulary (GPT-2)
// and a SentencePiece one (Llama), on one thread; decoding the result back.
//
// The vocabularies come from ../shared/vocab (`CAPIBARA_SHARED`, else ../shared from the working
// directory). The text is generated with a fixed seed, so that the run is reproducible without
// shipping a corpus: sentences of words drawn from a paragraph of English prose (the frequent
// words) and, one word in five, from 20,000 made-up words of two to four syllables (a long tail
// that no per-word cache can absorb), with the capitalization, punctuation, numbers and
// paragraph breaks of prose.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "gguf/gguf_file.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {
namespace {

constexpr size_t kTextBytes = size_t{1} << 20;  // 1 MiB

// A paragraph of ordinary English; its words (with their frequencies) feed the generator.
constexpr std::string_view kSeedProse =
    "The old lighthouse keeper had lived on the island for nearly forty years, and in all that "
    "time he had never once failed to light the lamp before the sun went down. Every evening he "
    "climbed the narrow stairs, counted the steps out of habit, and wiped the salt from the great "
    "glass lens with a soft cloth that his daughter had sent him from the mainland. Ships passed "
    "in the distance, some of them heading north toward the busy harbors, others turning west "
    "into the open ocean where the weather could change without warning. He kept a small "
    "notebook in which he wrote down the names of the vessels he recognized, the direction of "
    "the wind, and whatever thoughts came to him during the long hours of the night. Visitors "
    "were rare, but when they came they usually asked the same questions: whether he was lonely, "
    "whether the storms frightened him, and why anyone would choose such a life. He answered "
    "politely, although he suspected that none of them really understood. The island was not "
    "empty to him; it was full of birds and seals, of tides that kept their own schedule, and of "
    "the quiet satisfaction that comes from doing a simple job well. Researchers say that people "
    "who work in isolated places often develop careful routines, and that these routines help "
    "them measure time when the days are otherwise very similar. In the spring of that year, a "
    "young engineer arrived with instructions to install an automatic system that would make the "
    "keeper unnecessary. She was friendly and efficient, and she explained the new equipment "
    "with patience, showing him how the sensors would detect the fading light and how the "
    "computer would report any problem by radio. He listened, asked a few questions about the "
    "batteries and the backup generator, and then offered her a cup of tea. They talked for "
    "hours about the history of the coast, the families who had kept the light before him, and "
    "the strange things that fishermen claimed to have seen in the fog. When she left, the "
    "machine was working perfectly, yet he still climbed the stairs that evening, because some "
    "habits are not meant to be replaced.";

std::string english_text(size_t n_bytes) {
  std::vector<std::string> words;
  std::istringstream in{std::string(kSeedProse)};
  for (std::string w; in >> w;) {
    while (!w.empty() &&
           (w.back() == ',' || w.back() == '.' || w.back() == ';' || w.back() == ':')) {
      w.pop_back();
    }
    for (char& c : w) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (!w.empty()) words.push_back(w);
  }
  std::mt19937 rng(20260101);
  constexpr std::string_view kSyllables[] = {
      "ka",  "lo",  "ren", "tis", "mar", "ve",  "dun", "shi", "po",  "gral", "ith",
      "que", "zor", "nel", "bri", "ap",  "ost", "ule", "fen", "dra", "mo",   "sel"};
  std::uniform_int_distribution<size_t> syllable(0, std::size(kSyllables) - 1);
  std::uniform_int_distribution<int> n_syllables(2, 4);
  std::vector<std::string> rare_words(20000);
  for (std::string& w : rare_words) {
    for (int i = n_syllables(rng); i > 0; --i) w += kSyllables[syllable(rng)];
  }
  std::uniform_int_distribution<size_t> pick(0, words.size() - 1);
  std::uniform_int_distribution<size_t> pick_rare(0, rare_words.size() - 1);
  std::uniform_int_distribution<int> sentence_length(6, 24);
  std::uniform_int_distribution<int> percent(0, 99);
  std::string text;
  text.reserve(n_bytes + 256);
  int sentences_in_paragraph = 0;
  while (text.size() < n_bytes) {
    const int n = sentence_length(rng);
    for (int i = 0; i < n; ++i) {
      std::string w = percent(rng) < 20 ? rare_words[pick_rare(rng)] : words[pick(rng)];
      if (i == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
      if (percent(rng) < 3) w = std::to_string(percent(rng) * 37 + 1);
      text += w;
      if (i + 1 < n) text += percent(rng) < 8 ? ", " : " ";
    }
    text += percent(rng) < 10 ? "? " : ". ";
    if (++sentences_in_paragraph == 6) {
      text += "\n\n";
      sentences_in_paragraph = 0;
    }
  }
  return text;
}

std::unique_ptr<Tokenizer> load(std::string_view name) {
  const char* env = std::getenv("CAPIBARA_SHARED");
  const std::filesystem::path shared = env != nullptr ? env : "../shared";
  const std::filesystem::path path =
      shared / "vocab" / ("ggml-vocab-" + std::string(name) + ".gguf");
  if (!std::filesystem::exists(path)) return nullptr;
  const gguf::GgufFile file = gguf::GgufFile::open(path);
  return std::make_unique<Tokenizer>(Tokenizer::from_gguf(file));
}

void BM_TokenizerEncode(benchmark::State& state, std::string_view vocab) {
  const std::unique_ptr<Tokenizer> tok = load(vocab);
  if (!tok) {
    state.SkipWithError("shared vocabulary not found: set CAPIBARA_SHARED");
    return;
  }
  const std::string text = english_text(kTextBytes);
  size_t n_tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tok->encode(text, false, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n_tokens) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void BM_TokenizerDecode(benchmark::State& state, std::string_view vocab) {
  const std::unique_ptr<Tokenizer> tok = load(vocab);
  if (!tok) {
    state.SkipWithError("shared vocabulary not found: set CAPIBARA_SHARED");
    return;
  }
  const std::string text = english_text(kTextBytes);
  const std::vector<int32_t> ids = tok->encode(text, false, false);
  for (auto _ : state) {
    const std::string decoded = tok->decode(ids);
    benchmark::DoNotOptimize(decoded.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Building a tokenizer from a mapped vocabulary file: what `capibara tokenize` pays per run and
// a model load pays once.
void BM_TokenizerLoad(benchmark::State& state, std::string_view vocab) {
  for (auto _ : state) {
    const std::unique_ptr<Tokenizer> tok = load(vocab);
    if (!tok) {
      state.SkipWithError("shared vocabulary not found: set CAPIBARA_SHARED");
      return;
    }
    benchmark::DoNotOptimize(tok.get());
  }
}

BENCHMARK_CAPTURE(BM_TokenizerEncode, gpt2_1MiB, "gpt-2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerEncode, llama_spm_1MiB, "llama-spm")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerDecode, gpt2_1MiB, "gpt-2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerDecode, llama_spm_1MiB, "llama-spm")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerLoad, gpt2, "gpt-2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerLoad, llama_spm, "llama-spm")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerLoad, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace capibara
