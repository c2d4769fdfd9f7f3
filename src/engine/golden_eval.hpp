// Teacher-forced comparison of a model against reference log-probabilities (the golden files
// in `../shared/golden`, produced by llama.cpp): feeds exactly the reference tokens and compares
// our log-probabilities of the reference top-10 at every step.
//
// Thread safety: runs on the calling thread with the model's pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/kv_cache.hpp"

namespace capibara {

class Model;

struct GoldenCandidate {
  int32_t token = 0;
  double logprob = 0.0;
};

struct GoldenCase {
  std::string prompt;
  bool add_bos = true;
  std::vector<int32_t> prompt_tokens;
  std::vector<std::vector<GoldenCandidate>> steps;  // [n_steps][top-n, best first]
  std::vector<int32_t> greedy_tokens;
  std::string greedy_text;
};

struct GoldenFile {
  std::string model;
  int64_t n_vocab = 0;
  std::vector<GoldenCase> cases;
};

// Parses a golden JSON file; FormatError naming the problem when it does not have the format.
GoldenFile read_golden_file(const std::filesystem::path& path);

// The tolerances of `../shared/README.md` for a weight storage class and KV cache type.
struct GoldenTolerance {
  double max_abs_logprob_diff = 0.0;
  // Fraction of steps whose top-1 must agree; with `only_clear_steps`, every step whose
  // reference top-1/top-2 gap exceeds `clear_gap` must agree instead.
  double min_top1_fraction = 1.0;
  bool only_clear_steps = false;
  double clear_gap = 0.0;
  std::string description;
  // `min_top1_fraction` counts the steps of every case of the file together, as the README's
  // table gives it per file. Used for quantized weights: their reference gaps go down to a few
  // thousandths while every summation order (each ISA, packed or not, dequantized f32) sits
  // 0.05-0.1 away from llama.cpp, so one 32-step case moves between 26 and 32 agreeing steps
  // with the order alone; a file's 87 steps average that out.
  bool top1_over_file = false;
};
GoldenTolerance golden_tolerance(const Model& model, KvType kv_type);

struct GoldenCaseResult {
  std::string prompt;
  int64_t steps = 0;
  double max_abs_logprob_diff = 0.0;
  int64_t top1_agree = 0;     // steps whose argmax equals the reference top-1
  int64_t top1_required = 0;  // steps that had to agree (see GoldenTolerance)
  int64_t top1_required_agree = 0;
  bool prompt_tokens_match = true;  // only checked when a tokenizer was given
  bool pass = false;
};

// Evaluates every case: the prompt as one batch, then one reference token per step.
std::vector<GoldenCaseResult> evaluate_golden(Model& model, const GoldenFile& golden,
                                              KvType kv_type, const GoldenTolerance& tolerance);

// Mean over every teacher-forced step of every case of KL(P_reference || P_test), the full
// next-token distributions computed with a `reference` and a `test` KV cache type (the measure
// for lossy KV storage such as fp8, in nats).
double mean_kv_kl_divergence(Model& model, const GoldenFile& golden, KvType reference, KvType test);

}  // namespace capibara
