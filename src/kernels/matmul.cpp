// Matrix products as llama.cpp computes them: activations quantized once, integer dots per row.
#include "kernels/matmul.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/quant_dot.hpp"

namespace capibara::kernels {
namespace {

// Bytes of weight rows a thread multiplies with every token before moving on: about half of a
// typical 48 KiB L1 data cache, so the tile stays there while the activations stream from L2.
constexpr size_t kTileBytes = 24 * 1024;

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// After a decoding matmul (one token, its activations quantized by this thread into row 0 of the
// scratch): the other threads read that row in the operation, so their caches hold its lines,
// and the next matmul's quantizer (on this thread, while they wait) would stall on invalidating
// them, one store miss after another; on a host whose two vCPUs sat on different CCDs that was
// ~2 us of a 2048-value row (docs/PERFORMANCE.md, "Between the operations"). One byte stored per
// line starts every invalidation at once, and they complete during the serial work before the
// next matmul (the row is scratch: every matmul writes it before reading it). Measured with and
// without it in one process, token by token: ~1 % faster decoding there, ~0.7 % slower where the
// threads share one CCD and a line's trip is short ("Both variants in one process").
void reclaim_activation_row(MatmulScratch& scratch, size_t row_bytes, const ThreadPool& pool) {
  if (pool.size() == 1) return;
  uint8_t* row = scratch.activation_row(0);
  for (size_t offset = 0; offset < row_bytes; offset += kCacheLineBytes) row[offset] = 0;
}

// Types without an integer dot product: dequantize each row once, then f32 dots.
void matmul_dequantized(const KernelTable& table, const WeightMatrix& w, const float* x,
                        int64_t n_tokens, float* y, ThreadPool& pool, MatmulScratch& scratch) {
  const auto dot = table.dot_f32;
  const int64_t n = w.row_length;
  pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int thread) {
    float* row = scratch.row(thread);
    for (int64_t r = begin; r < end; ++r) {
      dequantize_row(w, r, row);
      for (int64_t t = 0; t < n_tokens; ++t) y[t * w.n_rows + r] = dot(row, x + t * n, n);
    }
  });
}

// Activation bytes a pass of the packed kernels streams over every group of a thread's slice:
// small enough to stay in the core's L2 while the slice's groups go by. Counted in the bytes each
// kind reads, not in the scratch stride (sized for f32 rows since the float layouts): by the
// stride, quantized blocks fell from 24 to 16 tokens and every block re-reads the weights
// (pp512 against the stride, alternated: Q8_0 +10-15 %, BF16 +7-21 %, F16 +6 %, Q4_0 noise).
constexpr size_t kPackedTokenBlockBytes = 256 * 1024;
// Weight bytes of the pieces threads claim (`ThreadPool::parallel_for_balanced`): small enough
// that a thread finishing early can take over the end of a slower one's slice, large enough that
// each thread streams long runs of consecutive groups. Decoding TinyLlama on 2 vCPUs against
// static slices: 128 KiB gained 2-12 %, 64 KiB to 1 MiB less, 16-32 KiB lost in some runs.
constexpr size_t kBalancePieceBytes = 128 * 1024;

// One packed matrix of a `matmul_packed` call and where its results go.
struct PackedJob {
  const WeightMatrix* w;
  PackedGemmFn gemm;
  float* y;
};

// The packed kernel of `w` in `table`, or null when `w` is not packed or `table` cannot use it.
PackedGemmFn packed_kernel_for(const KernelTable& table, const WeightMatrix& w) {
  return w.packed != nullptr ? packed_gemm_kernel(table, w.type) : nullptr;
}

// Matrices sharing the input `x` (same row length, same activation kind): the activations are
// quantized once, and the groups of all matrices are split among the threads in one pass, so a
// decode step waits on one barrier for q, k and v together.
void matmul_packed(const KernelTable& table, std::span<const PackedJob> jobs, const float* x,
                   int64_t n_tokens, ThreadPool& pool, MatmulScratch& scratch) {
  const WeightMatrix& first = *jobs.front().w;
  const int64_t n = first.row_length;
  const size_t stride = scratch.activation_stride_bytes();
  const PackedActivations kind = packed_format(first.type)->activations;
  // The K-quants read the activation type of their row-major dots (Q8_K), the float types theirs
  // (f32, f16 values widened back to f32, or bf16); the others Q8_0 with block sums.
  const auto quantize_own = quant_dot_kernels(table, first.type).quantize_activations;
  // A table's Q8_0 kernel may read int16 copies of the blocks when given several tokens.
  const bool widen = kind == PackedActivations::kQ8Sum && table.widen_q8_sum != nullptr &&
                     n_tokens >= table.widen_q8_sum_from_tokens &&
                     std::any_of(jobs.begin(), jobs.end(),
                                 [](const PackedJob& j) { return j.w->type == GgmlType::kQ8_0; });
  const size_t blocks_bytes = packed_activation_row_bytes(first.type, n);
  auto quantize_rows = [&](int64_t begin, int64_t end, int thread) {
    for (int64_t t = begin; t < end; ++t) {
      uint8_t* row = scratch.activation_row(t);
      switch (kind) {
        case PackedActivations::kQ8Sum:
          table.quantize_q8_sum(x + t * n, row, n);
          if (widen) table.widen_q8_sum(row, row + blocks_bytes, n);
          break;
        case PackedActivations::kF32:
          std::memcpy(row, x + t * n, static_cast<size_t>(n) * sizeof(float));
          break;
        case PackedActivations::kF16Values:
          round_through_f16(quantize_own, table.fp16_to_f32, x + t * n,
                            reinterpret_cast<uint16_t*>(scratch.row(thread)),
                            reinterpret_cast<float*>(row), n);
          break;
        case PackedActivations::kQ8_K:
        case PackedActivations::kBF16:
          quantize_own(x + t * n, row, n);
          break;
      }
    }
  };
  if (n_tokens == 1) {
    quantize_rows(0, 1, 0);
  } else {
    pool.parallel_for(n_tokens, quantize_rows);
  }
  const uint8_t* act = scratch.activation_row(0);
  // The bytes of each token's row this kind reads (the rows are `stride` apart, a stride sized
  // for the largest kind: f32 values).
  // (Where the Q8_0 kernels read the widened copies, those only: counting the blocks too, pp512
  // fell from ~100 to ~95 tok/s, fewer tokens per block re-reading the weights more often.)
  const size_t row_bytes = widen ? widened_q8_sum_bytes(n) : blocks_bytes;
  assert(blocks_bytes + (widen ? widened_q8_sum_bytes(n) : 0) <= stride);
  const auto block_tokens =
      static_cast<int64_t>(round_up(std::max<size_t>(1, kPackedTokenBlockBytes / row_bytes), 8));
  int64_t total_groups = 0;
  for (const PackedJob& job : jobs) total_groups += job.w->n_rows / kPackRows;
  // One balanced operation per block of tokens, so that every piece a thread claims reads the
  // block's activations from its L2.
  const auto grain = static_cast<int64_t>(
      std::max<size_t>(1, kBalancePieceBytes / packed_group_bytes(first.type, n)));
  for (int64_t t0 = 0; t0 < n_tokens; t0 += block_tokens) {
    const int64_t nt = std::min(block_tokens, n_tokens - t0);
    pool.parallel_for_balanced(total_groups, grain, [&](int64_t begin, int64_t end, int) {
      int64_t job_first = 0;  // the index of the job's first group among all
      for (const PackedJob& job : jobs) {
        const WeightMatrix& w = *job.w;
        const int64_t groups = w.n_rows / kPackRows;
        const int64_t g0 = std::max(begin, job_first) - job_first;
        const int64_t g1 = std::min(end, job_first + groups) - job_first;
        job_first += groups;
        const size_t group_bytes = packed_group_bytes(w.type, n);
        const auto y_stride = static_cast<size_t>(w.n_rows);
        for (int64_t g = g0; g < g1; ++g) {
          job.gemm(n, w.packed + static_cast<size_t>(g) * group_bytes,
                   act + static_cast<size_t>(t0) * stride, stride, nt,
                   job.y + static_cast<size_t>(t0) * y_stride + static_cast<size_t>(g * kPackRows),
                   y_stride);
        }
      }
    });
  }
  if (n_tokens == 1) reclaim_activation_row(scratch, row_bytes, pool);
}

// A row stride that is a multiple of 4 KiB puts the same block of every token's row in one set of
// the L1 cache (the set is the address modulo 4 KiB on current x86 and ARM cores), and AVX2's Q8_0
// prefill pass reads two lines of each of eight tokens' rows side by side, more than the set's
// ways: one line more spreads the rows over the sets. Llama-3.2-1B's shape (8192-value rows, a
// 32 KiB stride), Q8_0 pp512: 82-86 tok/s without, 94-101 with; an odd number of lines for every
// stride was no better (docs/PERFORMANCE.md, "AVX2 Q8_0 prefill in int16").
size_t activation_stride(int64_t max_row_length) {
  const size_t bytes = round_up(max_activation_row_bytes(max_row_length), kCacheLineBytes);
  return bytes % 4096 == 0 ? bytes + kCacheLineBytes : bytes;
}

}  // namespace

MatmulScratch::MatmulScratch(int n_threads, int64_t max_row_length, int64_t max_tokens)
    : max_row_length_(max_row_length),
      max_tokens_(max_tokens),
      activation_stride_bytes_(activation_stride(max_row_length)),
      activations_(static_cast<size_t>(max_tokens) * activation_stride_bytes_),
      rows_(static_cast<size_t>(n_threads) * static_cast<size_t>(max_row_length)) {}

void dequantize_row(const WeightMatrix& w, int64_t row, float* out) {
  assert(row >= 0 && row < w.n_rows);
  const uint8_t* src = w.data + static_cast<size_t>(row) * w.row_bytes;
  if (w.type == GgmlType::kF32) {
    std::memcpy(out, src, static_cast<size_t>(w.row_length) * sizeof(float));
  } else {
    dequantize_row_ref(w.type, src, out, w.row_length);
  }
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch) {
  matmul(active_kernels(), w, x, n_tokens, y, pool, scratch);
}

void matmul(const KernelTable& table, const WeightMatrix& w, const float* x, int64_t n_tokens,
            float* y, ThreadPool& pool, MatmulScratch& scratch) {
  assert(n_tokens <= scratch.max_tokens());
  assert(w.row_length <= scratch.max_row_length());
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  if (const PackedGemmFn gemm = packed_kernel_for(table, w); gemm != nullptr) {
    const PackedJob job{&w, gemm, y};
    matmul_packed(table, {&job, 1}, x, n_tokens, pool, scratch);
    return;
  }
  // The kernels are fetched once per matmul; the loops below only call through two pointers.
  const QuantDotKernels& kernels = quant_dot_kernels(table, w.type);
  if (kernels.vec_dot == nullptr) {
    matmul_dequantized(table, w, x, n_tokens, y, pool, scratch);
    return;
  }
  const int64_t n = w.row_length;

  // 1. The activations in the weight type's activation type (f32 ones are used in place).
  const bool quantized = w.type != GgmlType::kF32;
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  size_t act_stride = static_cast<size_t>(n) * sizeof(float);
  if (quantized) {
    const auto quantize = kernels.quantize_activations;
    act = scratch.activation_row(0);
    act_stride = scratch.activation_stride_bytes();
    if (n_tokens == 1) {
      quantize(x, scratch.activation_row(0), n);
    } else {
      pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end, int) {
        for (int64_t t = begin; t < end; ++t) quantize(x + t * n, scratch.activation_row(t), n);
      });
    }
  }

  // 2. One dot per (row, token), in tiles of rows that stay in cache across the batch. With a
  // prefill micro-kernel, each cache tile is covered by register tiles of tile_rows x
  // tile_tokens; the rows and tokens left over at the edges take the single-dot kernel.
  const auto vec_dot = kernels.vec_dot;
  const auto vec_dot_tile = n_tokens >= 2 ? kernels.vec_dot_tile : nullptr;
  const int64_t micro_rows = vec_dot_tile != nullptr ? kernels.tile_rows : 1;
  const int64_t micro_tokens = vec_dot_tile != nullptr ? kernels.tile_tokens : 1;
  const int64_t tile_rows =
      round_up(std::max<size_t>(1, kTileBytes / std::max<size_t>(1, w.row_bytes)), micro_rows);
  const auto single = [&](int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
      float* yt = y + t * w.n_rows;
      for (int64_t r = r0; r < r1; ++r) {
        yt[r] = vec_dot(n, w.data + static_cast<size_t>(r) * w.row_bytes, a);
      }
    }
  };
  pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r0 = begin; r0 < end; r0 += tile_rows) {
      const int64_t r1 = std::min(end, r0 + tile_rows);
      if (vec_dot_tile == nullptr) {
        single(r0, r1, 0, n_tokens);
        continue;
      }
      const int64_t r_tiled = r0 + (r1 - r0) / micro_rows * micro_rows;
      const int64_t t_tiled = n_tokens / micro_tokens * micro_tokens;
      for (int64_t t = 0; t < t_tiled; t += micro_tokens) {
        const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
        float* yt = y + t * w.n_rows;
        for (int64_t r = r0; r < r_tiled; r += micro_rows) {
          vec_dot_tile(n, w.data + static_cast<size_t>(r) * w.row_bytes, w.row_bytes, a, act_stride,
                       yt + r, static_cast<size_t>(w.n_rows));
        }
        single(r_tiled, r1, t, t + micro_tokens);
      }
      single(r0, r1, t_tiled, n_tokens);
    }
  });
  if (n_tokens == 1 && quantized) {
    reclaim_activation_row(scratch, activation_row_bytes(w.type, n), pool);
  }
}

void matmul_shared_input(std::span<const WeightMatrix* const> ws, const float* x, int64_t n_tokens,
                         std::span<float* const> ys, ThreadPool& pool, MatmulScratch& scratch) {
  assert(ws.size() == ys.size());
  const KernelTable& table = active_kernels();
  constexpr size_t kMaxJobs = 4;
  PackedJob jobs[kMaxJobs];
  bool together = !ws.empty() && ws.size() <= kMaxJobs && n_tokens > 0;
  for (size_t i = 0; together && i < ws.size(); ++i) {
    const PackedGemmFn gemm = packed_kernel_for(table, *ws[i]);
    together = gemm != nullptr && ws[i]->row_length == ws[0]->row_length &&
               packed_format(ws[i]->type)->activations == packed_format(ws[0]->type)->activations;
    jobs[i] = PackedJob{ws[i], gemm, ys[i]};
  }
  if (together) {
    matmul_packed(table, {jobs, ws.size()}, x, n_tokens, pool, scratch);
    return;
  }
  for (size_t i = 0; i < ws.size(); ++i) matmul(table, *ws[i], x, n_tokens, ys[i], pool, scratch);
}

}  // namespace capibara::kernels
