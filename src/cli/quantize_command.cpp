// `capibara quantize IN.gguf OUT.gguf TYPE [--threads N]`: converts a model to a quantization
// preset as llama.cpp's llama-quantize does (the work is tools/quantize_model's; this file maps
// the command line onto it and prints one line per tensor and a total).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "tools/quantize_model.hpp"
#include "tools/quantize_plan.hpp"

namespace capibara::cli {
namespace {

struct QuantizeCommandOptions {
  std::string input;
  std::string output;
  std::string type;
  int threads = 0;
  bool allow_requantize = false;
};

// 1.00 KiB, 105.00 KiB, 3.52 MiB, 3.80 GiB (binary units, as llama-quantize prints sizes).
std::string size_text(size_t n_bytes) {
  const double v = static_cast<double>(n_bytes);
  if (v < 1024.0 * 1024.0) return fmt::format("{:.2f} KiB", v / 1024.0);
  if (v < 1024.0 * 1024.0 * 1024.0) return fmt::format("{:.2f} MiB", v / (1024.0 * 1024.0));
  return fmt::format("{:.2f} GiB", v / (1024.0 * 1024.0 * 1024.0));
}

void print_tensor(const tools::TensorReport& r) {
  const int width = static_cast<int>(fmt::format("{}", r.count).size());
  const std::string size =
      r.from == r.to ? size_text(r.to_bytes)
                     : fmt::format("{} -> {}", size_text(r.from_bytes), size_text(r.to_bytes));
  std::string line = fmt::format("[{:>{}}/{}] {:<36} {:<18} {:>5} -> {:<5} {}", r.position, width,
                                 r.count, r.name, fmt::format("[{}]", fmt::join(r.shape, ", ")),
                                 ggml_type_name(r.from), ggml_type_name(r.to), size);
  if (!r.note.empty()) line += fmt::format("  ({}: {})", r.fallback ? "fallback" : "note", r.note);
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

int run_quantize(const QuantizeCommandOptions& o) {
  const auto target = tools::parse_quant_target(o.type);
  if (!target) {
    throw InvalidArgumentError(fmt::format("unknown quantization type '{}' (choose from {})",
                                           o.type, tools::quant_target_list()));
  }
  tools::QuantizeOptions options;
  options.target = *target;
  options.n_threads = o.threads;
  options.allow_requantize = o.allow_requantize;
  fmt::print("capibara: quantizing {} to {} as {}\n", o.input, o.output,
             tools::quant_target_name(*target));
  const tools::QuantizeSummary s = tools::quantize_model(o.input, o.output, options, print_tensor);
  const double bits_per_weight =
      s.n_weights == 0
          ? 0.0
          : 8.0 * static_cast<double>(s.output_tensor_bytes) / static_cast<double>(s.n_weights);
  fmt::print(
      "total: {} tensors ({} converted, {} fallback{}), {} -> {}, {:.2f} bits per weight; "
      "file {} ({} bytes, general.file_type {}), {:.2f} s on {} thread{}\n",
      s.n_tensors, s.n_converted, s.n_fallbacks, s.n_fallbacks == 1 ? "" : "s",
      size_text(s.input_tensor_bytes), size_text(s.output_tensor_bytes), bits_per_weight, o.output,
      s.output_file_bytes, s.file_type, s.seconds, s.n_threads, s.n_threads == 1 ? "" : "s");
  return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<QuantizeCommandOptions>();
  auto* cmd = app.add_subcommand(
      "quantize", "Convert a GGUF model to " + tools::quant_target_list() +
                      ", choosing each tensor's type as llama.cpp's llama-quantize presets do");
  cmd->add_option("input", o->input, "GGUF model to read (f32, f16 or bf16 weights)")->required();
  cmd->add_option("output", o->output, "GGUF file to write (replaced if it exists)")->required();
  cmd->add_option("type", o->type, "Target: " + tools::quant_target_list())->required();
  cmd->add_option("-t,--threads", o->threads, "Threads quantizing rows (0: all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_flag("--allow-requantize", o->allow_requantize,
                "Accept tensors that are already quantized (their errors add up)");
  cmd->callback([&action, o] { action = [o] { return run_quantize(*o); }; });
}

}  // namespace capibara::cli
