// Cohere's Command-R (`command-r`: Command R, Aya Expanse 8B/32B) and its successor (`cohere2`:
// Command R7B, Aya Vision's text model): LayerNorm without bias, attention and FFN side by side
// on the same normed input (parallel residual), RoPE on adjacent pairs, output tied to the
// embedding and multiplied by `logit_scale`. Cohere2 interleaves three sliding-window layers with
// one global layer, and its global layers use no positional encoding at all.
#include "model/architecture.hpp"
#include "model/model_config.hpp"

namespace capibara {
namespace {

void configure_command_r(const HparamReader& hp, ModelConfig& c) {
  c.norm = NormType::kLayerNorm;
  c.norm_eps = hp.require_float("attention.layer_norm_epsilon");
  c.residual = ResidualLayout::kParallel;
  c.logit_scale = hp.require_float("logit_scale");
  c.sliding_window = 0;
}

constexpr int64_t kCohere2SlidingWindowPeriod = 4;  // 3 local : 1 global

void configure_cohere2(const HparamReader& hp, ModelConfig& c) {
  configure_command_r(hp, c);
  c.sliding_window = hp.require_positive("attention.sliding_window");
  set_sliding_window_period(c, kCohere2SlidingWindowPeriod);
  for (auto& layer : c.layers) layer.rope = layer.sliding_window;
}

}  // namespace

extern const Architecture kArchCommandR{"command-r", configure_command_r};
extern const Architecture kArchCohere2{"cohere2", configure_cohere2};

}  // namespace capibara
