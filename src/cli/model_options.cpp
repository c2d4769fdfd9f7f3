// Flags shared by the model-loading commands.
#include "cli/model_options.hpp"

#include "core/error.hpp"

namespace capibara::cli {

void ModelFlags::add_to(CLI::App& cmd, const std::string& default_kv_type) {
  kv_type = default_kv_type;
  cmd.add_option("-m,--model", model_path, "GGUF model file")->required()->check(CLI::ExistingFile);
  cmd.add_option("-t,--threads", threads, "Compute threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("-c,--ctx", ctx, "Context size in tokens (0: the model's, capped at 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("-b,--batch", batch, "Tokens per forward pass during prompt processing")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--kv-type", kv_type, "KV cache storage type")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "fp8"}))
      ->capture_default_str();
}

ModelOptions ModelFlags::model_options() const { return ModelOptions{threads, ctx, batch}; }

KvType ModelFlags::kv() const {
  const auto t = parse_kv_type(kv_type);
  if (!t) throw InvalidArgumentError("unknown KV cache type '" + kv_type + "'");
  return *t;
}

}  // namespace capibara::cli
