// Converts a GGUF model to a quantization preset (`capibara quantize`): the types come from
// `plan_quantization` (llama.cpp's rules), the bytes from the reference quantizers (identical to
// llama.cpp's without an importance matrix), the layout from llama.cpp's `llama-quantize`:
// metadata copied in order with `general.quantization_version` and `general.file_type` set last,
// tensors ordered by layer then name, the input's alignment kept.
//
// The output is streamed: the header first, then one tensor at a time, converted in chunks of
// rows split across a thread pool, so memory stays at a few chunks whatever the model's size (the
// input is read through its memory mapping, whose pages are released after each tensor). The
// file is written under a temporary name and renamed when complete, so a failed run leaves no
// truncated model behind.
//
// Thread safety: `quantize_model` may run on any thread; it owns its pool for the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/ggml_type.hpp"
#include "tools/quantize_plan.hpp"

namespace capibara::tools {

struct QuantizeOptions {
  QuantTarget target = QuantTarget::kQ8_0;
  int n_threads = 0;  // 0: every hardware thread
  // Accept input tensors that are already block-quantized (they are dequantized first, so their
  // error adds up); llama-quantize refuses them too unless told `--allow-requantize`.
  bool allow_requantize = false;
};

// One tensor of the output, reported after it has been written.
struct TensorReport {
  int position = 0;  // 1-based, in output order
  int count = 0;     // tensors in the file
  std::string name;
  std::vector<int64_t> shape;  // GGUF order
  GgmlType from = GgmlType::kF32;
  GgmlType to = GgmlType::kF32;
  size_t from_bytes = 0;
  size_t to_bytes = 0;
  bool fallback = false;
  std::string note;  // why the type is not the preset's (empty when it is)
};

struct QuantizeSummary {
  int n_tensors = 0;
  int n_converted = 0;
  int n_fallbacks = 0;
  int64_t n_weights = 0;
  size_t input_tensor_bytes = 0;
  size_t output_tensor_bytes = 0;
  size_t output_file_bytes = 0;
  uint32_t file_type = 0;  // `general.file_type` written
  int n_threads = 0;
  double seconds = 0.0;
};

using TensorReportFn = std::function<void(const TensorReport&)>;

// Writes `output` from `input` quantized to `options.target`; `on_tensor` (optional) hears of each
// tensor once written. Throws `InvalidArgumentError` when `output` is `input` or an option is out
// of range or a tensor is already quantized without `allow_requantize`, `SystemError` for I/O,
// `FormatError` / `UnsupportedError` for an input it cannot read or convert (including weights
// that are NaN or infinite). Nothing is created before the input has been checked.
QuantizeSummary quantize_model(const std::filesystem::path& input,
                               const std::filesystem::path& output, const QuantizeOptions& options,
                               const TensorReportFn& on_tensor = {});

}  // namespace capibara::tools
