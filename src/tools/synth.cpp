// Metadata keys per architecture (GGUF key names are a wire format: spelled as llama.cpp's
// converters write them) and the streaming tensor writer.
#include "tools/synth.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "kernels/quantize.hpp"
#include "tools/synth_chat_templates.hpp"
#include "tools/synth_random.hpp"
#include "tools/synth_vocab.hpp"

namespace capibara::tools {
namespace {

constexpr size_t kChunkBytes = size_t{64} << 20;  // output bytes generated per pool round

void write_hparams(const SynthOptions& o, gguf::GgufWriter& w) {
  const SynthShape& s = o.shape;
  const std::string a = s.architecture + ".";
  const auto u32 = [&](std::string_view key, int64_t v) {
    w.set_u32(a + std::string(key), static_cast<uint32_t>(v));
  };
  const auto f32 = [&](std::string_view key, float v) { w.set_f32(a + std::string(key), v); };
  u32("vocab_size", s.n_vocab);
  u32("context_length", s.n_ctx);
  u32("embedding_length", s.n_embd);
  u32("block_count", s.n_layer);
  u32("feed_forward_length", s.n_ff);
  u32("attention.head_count", s.n_head);
  u32("attention.head_count_kv", s.n_head_kv);
  if (s.head_dim > 0) {
    u32("attention.key_length", s.head_dim);
    u32("attention.value_length", s.head_dim);
  }
  f32("rope.freq_base", s.rope_base);
  u32("rope.dimension_count", s.rope_dims());
  f32(s.architecture == "command-r" ? "attention.layer_norm_epsilon"
                                    : "attention.layer_norm_rms_epsilon",
      s.norm_eps);
  if (s.sliding_window > 0) u32("attention.sliding_window", s.sliding_window);
  if (s.logit_scale > 0.0f) f32("logit_scale", s.logit_scale);
  if (s.rope_linear_factor > 0.0f) {
    w.set_string(a + "rope.scaling.type", "linear");
    f32("rope.scaling.factor", s.rope_linear_factor);
  }
  if (s.longrope) {
    f32("rope.scaling.attn_factor", s.rope_attn_factor);
    u32("rope.scaling.original_context_length",
        s.rope_n_ctx_orig > 0 ? s.rope_n_ctx_orig : std::min<int64_t>(s.n_ctx, 4096));
  }
}

std::unique_ptr<std::FILE, int (*)(std::FILE*)> create_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) {
    throw SystemError(fmt::format("cannot create '{}': {}", path.string(), std::strerror(errno)));
  }
  return f;
}

void write_bytes(std::FILE* f, const std::filesystem::path& path, const void* data, size_t n) {
  if (n > 0 && std::fwrite(data, 1, n, f) != n) {
    throw SystemError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
  }
}

// Generates `t` chunk by chunk and appends its bytes to `f`; returns the bytes written.
size_t write_tensor(const SynthOptions& o, const SynthTensor& t, ThreadPool& pool,
                    std::vector<std::vector<float>>& rows, std::vector<uint8_t>& chunk,
                    std::FILE* f, const std::filesystem::path& path) {
  const int64_t n = t.shape[0];
  const size_t row_bytes = *ggml_row_bytes(t.type, n);
  if (t.fill != TensorFill::kNormal && t.fill != TensorFill::kOnes) {
    const std::vector<float> v = rope_factor_values(t.fill, t.n_elements(), o.shape.rope_base);
    chunk.resize(row_bytes);
    kernels::quantize_row_ref(t.type, v.data(), chunk.data(), n);
    write_bytes(f, path, chunk.data(), row_bytes);
    return row_bytes;
  }
  const int64_t n_rows = t.n_rows();
  const int64_t rows_per_chunk =
      std::clamp<int64_t>(static_cast<int64_t>(kChunkBytes / row_bytes), 1, n_rows);
  chunk.resize(static_cast<size_t>(rows_per_chunk) * row_bytes);
  for (auto& r : rows) r.resize(std::max(r.size(), static_cast<size_t>(n)));
  for (int64_t first = 0; first < n_rows; first += rows_per_chunk) {
    const int64_t count = std::min(rows_per_chunk, n_rows - first);
    pool.parallel_for(count, [&](int64_t begin, int64_t end, int thread) {
      float* row = rows[static_cast<size_t>(thread)].data();
      for (int64_t r = begin; r < end; ++r) {
        if (t.fill == TensorFill::kOnes) {
          std::fill(row, row + n, 1.0f);
        } else {
          fill_normal(row_seed(o.seed, t.name, first + r), o.weight_std, row, n);
        }
        kernels::quantize_row_ref(t.type, row, chunk.data() + static_cast<size_t>(r) * row_bytes,
                                  n);
      }
    });
    write_bytes(f, path, chunk.data(), static_cast<size_t>(count) * row_bytes);
  }
  return static_cast<size_t>(n_rows) * row_bytes;
}

}  // namespace

gguf::GgufWriter synth_header(const SynthOptions& o, std::vector<SynthTensor>& tensors) {
  validate_synth_shape(o.shape);
  const SynthShape& s = o.shape;
  gguf::GgufWriter w;
  w.set_string("general.architecture", s.architecture);
  w.set_string("general.name", fmt::format("synthetic {} seed {}", s.name, o.seed));
  write_hparams(o, w);
  const TokenizerSpec vocab = build_synth_vocab(s.vocab, s.n_vocab, s.n_reserved);
  write_tokenizer_metadata(vocab, w);
  w.set_string("tokenizer.chat_template", std::string(synth_chat_template(s.chat)));
  w.set_u32("general.file_type", static_cast<uint32_t>(o.target));
  if (traits_of(default_tensor_type(o.target)).block_size > 1) {
    w.set_u32("general.quantization_version", 2);
  }
  tensors = synth_tensor_list(s, o.target);
  for (const auto& t : tensors) w.add_tensor_info(t.name, t.type, t.shape);
  return w;
}

SynthSummary write_synth_model(const SynthOptions& o, const std::filesystem::path& output,
                               const std::function<void(const SynthTensorReport&)>& on_tensor) {
  if (!(o.weight_std > 0.0f) || o.n_threads < 0) {
    throw InvalidArgumentError("weight_std must be positive and n_threads non-negative");
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<SynthTensor> tensors;
  const gguf::GgufWriter header = synth_header(o, tensors);

  std::filesystem::path part = output;
  part += ".part";
  SynthSummary summary;
  summary.n_tensors = static_cast<int>(tensors.size());
  try {
    auto f = create_file(part);
    const std::vector<uint8_t> head = header.header_bytes();
    write_bytes(f.get(), part, head.data(), head.size());
    summary.file_bytes = head.size();

    ThreadPool pool(o.n_threads);
    std::vector<std::vector<float>> rows(static_cast<size_t>(pool.size()));
    std::vector<uint8_t> chunk;
    const std::vector<uint8_t> zeros(header.alignment(), 0);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const size_t n_bytes = write_tensor(o, tensors[i], pool, rows, chunk, f.get(), part);
      const size_t pad = header.padding_after(n_bytes);
      write_bytes(f.get(), part, zeros.data(), pad);
      summary.tensor_bytes += n_bytes;
      summary.file_bytes += n_bytes + pad;
      summary.n_params += tensors[i].n_elements();
      if (on_tensor) {
        on_tensor({static_cast<int>(i + 1), summary.n_tensors, &tensors[i], n_bytes});
      }
    }
    if (std::fclose(f.release()) != 0) {
      throw SystemError(fmt::format("cannot write '{}': {}", part.string(), std::strerror(errno)));
    }
    std::filesystem::rename(part, output);
  } catch (const std::filesystem::filesystem_error& e) {
    std::error_code ignored;
    std::filesystem::remove(part, ignored);
    throw SystemError(fmt::format("cannot write '{}': {}", output.string(), e.what()));
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(part, ignored);
    throw;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace capibara::tools
