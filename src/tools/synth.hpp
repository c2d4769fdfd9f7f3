// `capibara synth`: writes a random-weight model at a real model's shapes, with a working
// tokenizer and chat template, for benchmarks and for running every architecture end to end
// without downloading weights.
//
// Weights are N(0, 0.02)-like (synth_random.hpp), as models are initialised before training:
// with pre-norm blocks the activations stay finite through any number of layers. Norm weights
// are 1. The file is streamed: the header first, then one tensor at a time, generated and
// quantized in chunks of rows across a thread pool, so memory stays at one chunk (64 MiB) plus
// the vocabulary whatever the model's size. It is written under `OUT.part` and renamed when
// complete, so a failed run leaves no truncated model behind.
//
// tools/ sits above gguf/, kernels/ and model/ and below cli/.
// Thread safety: `write_synth_model` may run on any thread; it owns its pool for the call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/ggml_type.hpp"
#include "gguf/gguf_writer.hpp"
#include "tools/quantize_plan.hpp"
#include "tools/synth_presets.hpp"
#include "tools/synth_tensors.hpp"

namespace capibara::tools {

struct SynthOptions {
  SynthShape shape;
  QuantTarget target = QuantTarget::kQ8_0;
  uint64_t seed = 0;
  int n_threads = 0;         // 0: every hardware thread
  float weight_std = 0.02f;  // standard deviation of weight matrices and biases
};

// One tensor, reported after it has been written.
struct SynthTensorReport {
  int position = 0;  // 1-based
  int count = 0;
  const SynthTensor* tensor = nullptr;
  size_t n_bytes = 0;
};

struct SynthSummary {
  int n_tensors = 0;
  int64_t n_params = 0;
  size_t tensor_bytes = 0;
  size_t file_bytes = 0;
  double seconds = 0.0;
};

// The metadata of the model `options` describes (hyperparameters, tokenizer, chat template,
// `general.*`) and its tensors declared without data, in file order (`tensors` receives them).
gguf::GgufWriter synth_header(const SynthOptions& options, std::vector<SynthTensor>& tensors);

// Writes the model to `output`. InvalidArgumentError for an invalid shape, SystemError for I/O.
SynthSummary write_synth_model(const SynthOptions& options, const std::filesystem::path& output,
                               const std::function<void(const SynthTensorReport&)>& on_tensor = {});

}  // namespace capibara::tools
