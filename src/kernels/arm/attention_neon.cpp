// NEON tile attention kernels: half a score row (8 keys, two registers) of two query heads per
// pass, their four chains in 16 accumulators, each query quad loaded once and applied by lane;
// values keep four heads' 16 output dimensions in registers across the keys. Both also read the
// KV cache's fp16 / bf16 tiles as stored, widening each row in the registers that use it.
#include "kernels/arm/attention_neon.hpp"

#include <arm_neon.h>

#include <cmath>

#include "kernels/arm/exp_neon.hpp"
#include "kernels/attention_tiles.hpp"

namespace capibara::kernels::neon {
namespace {

constexpr int64_t kL = kAttnTileKeys;
static_assert(kL == 16, "two 8-key halves per score row");

// How the kernels read 4 elements of a tile as floats: an f32 tile, or the cache's own fp16 /
// bf16 tile widened in the register that uses it (exact, so every format gives the f32 tile's
// bits), which spares decoding the pass that widens each tile to memory and reads it back.
struct F32Elems {
  using Elem = float;
  static float32x4_t load(const float* p) { return vld1q_f32(p); }
};
struct F16Elems {
  using Elem = uint16_t;
  static float32x4_t load(const uint16_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
  }
};
struct Bf16Elems {
  using Elem = uint16_t;
  // A bf16 is the high half of the f32 it stands for.
  static float32x4_t load(const uint16_t* p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
  }
};

// Chain kC of kHeads heads over one row of the key tile (8 lanes at `row`), each head's query
// value taken from lane kC of its query quad (`vfmaq_laneq_f32` wants a constant lane).
template <int kC, int kHeads, class Elems>
void dimension_step(float32x4_t (&acc)[kHeads][4][2], const float32x4_t (&qv)[kHeads],
                    const typename Elems::Elem* row) {
  const float32x4_t k0 = Elems::load(row);
  const float32x4_t k1 = Elems::load(row + 4);
  for (int h = 0; h < kHeads; ++h) {
    acc[h][kC][0] = vfmaq_laneq_f32(acc[h][kC][0], k0, qv[h], kC);
    acc[h][kC][1] = vfmaq_laneq_f32(acc[h][kC][1], k1, qv[h], kC);
  }
}

// Lanes [lane, lane + 8) of kHeads heads' score rows.
template <int kHeads, class Elems>
void scores_heads(const float* q, const typename Elems::Elem* kt, int64_t hd, float scale,
                  int64_t lane, float* s) {
  float32x4_t acc[kHeads][4][2];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 4; ++c) acc[h][c][0] = acc[h][c][1] = vdupq_n_f32(0.0f);
  }
  int64_t i = 0;
  for (; i + 4 <= hd; i += 4) {
    float32x4_t qv[kHeads];
    for (int h = 0; h < kHeads; ++h) qv[h] = vld1q_f32(q + h * hd + i);
    dimension_step<0, kHeads, Elems>(acc, qv, kt + i * kL + lane);
    dimension_step<1, kHeads, Elems>(acc, qv, kt + (i + 1) * kL + lane);
    dimension_step<2, kHeads, Elems>(acc, qv, kt + (i + 2) * kL + lane);
    dimension_step<3, kHeads, Elems>(acc, qv, kt + (i + 3) * kL + lane);
  }
  // The last dimensions continue chains 0, 1, 2 (i is a multiple of four here).
  for (int c = 0; c < 3 && i + c < hd; ++c) {
    const float32x4_t k0 = Elems::load(kt + (i + c) * kL + lane);
    const float32x4_t k1 = Elems::load(kt + (i + c) * kL + lane + 4);
    for (int h = 0; h < kHeads; ++h) {
      const float qi = q[h * hd + i + c];
      acc[h][c][0] = vfmaq_n_f32(acc[h][c][0], k0, qi);
      acc[h][c][1] = vfmaq_n_f32(acc[h][c][1], k1, qi);
    }
  }
  for (int h = 0; h < kHeads; ++h) {
    for (int r = 0; r < 2; ++r) {
      const float32x4_t sum =
          vaddq_f32(vaddq_f32(acc[h][0][r], acc[h][1][r]), vaddq_f32(acc[h][2][r], acc[h][3][r]));
      vst1q_f32(s + h * kL + lane + 4 * r, vmulq_n_f32(sum, scale));
    }
  }
}

// Dimensions [i, i + 4 kRegs) of kHeads heads, over every key.
template <int kHeads, int kRegs, class Elems>
void values_heads(const float* p, size_t p_stride, const typename Elems::Elem* v, int64_t n_keys,
                  int64_t hd, int64_t i, float* o) {
  float32x4_t acc[kHeads][kRegs];
  for (int h = 0; h < kHeads; ++h) {
    for (int r = 0; r < kRegs; ++r) acc[h][r] = vld1q_f32(o + h * hd + i + 4 * r);
  }
  for (int64_t j = 0; j < n_keys; ++j) {
    float32x4_t vj[kRegs];
    for (int r = 0; r < kRegs; ++r) vj[r] = Elems::load(v + j * hd + i + 4 * r);
    for (int h = 0; h < kHeads; ++h) {
      const float pj = p[static_cast<size_t>(h) * p_stride + static_cast<size_t>(j)];
      for (int r = 0; r < kRegs; ++r) acc[h][r] = vfmaq_n_f32(acc[h][r], vj[r], pj);
    }
  }
  for (int h = 0; h < kHeads; ++h) {
    for (int r = 0; r < kRegs; ++r) vst1q_f32(o + h * hd + i + 4 * r, acc[h][r]);
  }
}

template <int kRegs, class Elems>
void values_columns(const float* p, size_t p_stride, int64_t n_q, const typename Elems::Elem* v,
                    int64_t n_keys, int64_t hd, int64_t i, float* o) {
  int64_t h = 0;
  for (; h + 4 <= n_q; h += 4) {
    values_heads<4, kRegs, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
  for (; h < n_q; ++h) {
    values_heads<1, kRegs, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
}

// Always inlined, like `values`: as a function of its own it made GCC 12 allocate the f32
// kernel's registers differently from the loop written in `attn_scores` itself.
template <class Elems>
[[gnu::always_inline]] inline void scores(const float* q, int64_t n_q,
                                          const typename Elems::Elem* kt, int64_t hd, float scale,
                                          float* s) {
  for (int64_t lane = 0; lane < kL; lane += 8) {
    int64_t h = 0;
    for (; h + 2 <= n_q; h += 2) {
      scores_heads<2, Elems>(q + h * hd, kt, hd, scale, lane, s + h * kL);
    }
    if (h < n_q) scores_heads<1, Elems>(q + h * hd, kt, hd, scale, lane, s + h * kL);
  }
}

// Every output dimension but the last hd % 4, which `kTail` (the scalar reference from a first
// dimension on, the same fma per element) takes. The tail is a template argument rather than a
// function pointer argument: GCC 12 then laid out the f32 kernel's return path as before.
template <class Elems, auto kTail>
[[gnu::always_inline]] inline void values(const float* p, size_t p_stride, int64_t n_q,
                                          const typename Elems::Elem* v, int64_t n_keys, int64_t hd,
                                          float* o) {
  int64_t i = 0;
  for (; i + 16 <= hd; i += 16) values_columns<4, Elems>(p, p_stride, n_q, v, n_keys, hd, i, o);
  for (; i + 4 <= hd; i += 4) values_columns<1, Elems>(p, p_stride, n_q, v, n_keys, hd, i, o);
  // None for the usual head sizes.
  if (i < hd) kTail(p, p_stride, n_q, v, n_keys, hd, i, o);
}

}  // namespace

void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd) {
  // A head's score row is four registers; the lanes outside the window read as -inf, whose
  // weight is 0, and are written back unchanged.
  uint32x4_t in[4];
  const int32x4_t first = vdupq_n_s32(static_cast<int32_t>(lo));
  const int32x4_t end = vdupq_n_s32(static_cast<int32_t>(lo + n));
  for (int r = 0; r < 4; ++r) {
    const int32_t base = 4 * r;
    const int32_t lanes_init[4] = {base, base + 1, base + 2, base + 3};
    const int32x4_t lanes = vld1q_s32(lanes_init);
    in[r] = vandq_u32(vcgeq_s32(lanes, first), vcltq_s32(lanes, end));
  }
  const float32x4_t neg_inf = vdupq_n_f32(-INFINITY);
  for (int64_t h = 0; h < n_q; ++h) {
    float* sh = s + h * kL;
    float32x4_t x[4], old[4];
    for (int r = 0; r < 4; ++r) {
      old[r] = vld1q_f32(sh + 4 * r);
      x[r] = vbslq_f32(in[r], old[r], neg_inf);
    }
    const float tile_max = vmaxvq_f32(vmaxq_f32(vmaxq_f32(x[0], x[1]), vmaxq_f32(x[2], x[3])));
    const float m = attn_next_max(run_max[h], tile_max);
    const float c = attn_rescale(run_max[h], m);
    if (c != 1.0f) {
      float* oh = o + h * hd;
      int64_t i = 0;
      for (; i + 4 <= hd; i += 4) vst1q_f32(oh + i, vmulq_n_f32(vld1q_f32(oh + i), c));
      for (; i < hd; ++i) oh[i] *= c;
    }
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t e[4];
    for (int r = 0; r < 4; ++r) {
      e[r] = arm::exp4(vsubq_f32(x[r], vm));
      vst1q_f32(sh + 4 * r, vbslq_f32(in[r], e[r], old[r]));
    }
    // Lanes j and j + 8, then j + 4, j + 2, j + 1, as the reference adds them.
    const float32x4_t t4 = vaddq_f32(vaddq_f32(e[0], e[2]), vaddq_f32(e[1], e[3]));
    const float32x2_t t2 = vadd_f32(vget_low_f32(t4), vget_high_f32(t4));
    run_sum[h] = std::fma(run_sum[h], c, vpadds_f32(t2));
    run_max[h] = m;
  }
}

void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s) {
  scores<F32Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o) {
  values<F32Elems, scalar::attn_values_from>(p, p_stride, n_q, v, n_keys, hd, o);
}

void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                     float* s) {
  scores<F16Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values_f16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                     int64_t n_keys, int64_t hd, float* o) {
  values<F16Elems, scalar::attn_values_f16_from>(p, p_stride, n_q, v, n_keys, hd, o);
}

void attn_scores_bf16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                      float* s) {
  scores<Bf16Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values_bf16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                      int64_t n_keys, int64_t hd, float* o) {
  values<Bf16Elems, scalar::attn_values_bf16_from>(p, p_stride, n_q, v, n_keys, hd, o);
}

}  // namespace capibara::kernels::neon
