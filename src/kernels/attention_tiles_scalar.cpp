// The reference tile attention kernels (attention_tiles.hpp). The inner loops run over the key
// lanes or the head dimension, which compilers vectorize where no hand-written kernel exists.
#include <algorithm>
#include <cmath>

#include "core/half.hpp"
#include "kernels/attention_tiles.hpp"

namespace capibara::kernels::scalar {

namespace {

// The score and value references over a tile of any element type, read through `widen`.
template <class Elem, float (*widen)(Elem)>
void scores_of(const float* q, int64_t n_q, const Elem* kt, int64_t hd, float scale, float* s) {
  constexpr int64_t kL = kAttnTileKeys;
  for (int64_t h = 0; h < n_q; ++h) {
    float acc[4][kL] = {};
    for (int64_t i = 0; i < hd; ++i) {
      const float qi = q[h * hd + i];
      float* chain = acc[i % 4];
      for (int64_t j = 0; j < kL; ++j) chain[j] = std::fma(qi, widen(kt[i * kL + j]), chain[j]);
    }
    for (int64_t j = 0; j < kL; ++j) {
      s[h * kL + j] = ((acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j])) * scale;
    }
  }
}

template <class Elem, float (*widen)(Elem)>
void values_of(const float* p, size_t p_stride, int64_t n_q, const Elem* v, int64_t n_keys,
               int64_t hd, int64_t first, float* o) {
  for (int64_t h = 0; h < n_q; ++h) {
    float* oh = o + h * hd;
    for (int64_t j = 0; j < n_keys; ++j) {
      const float pj = p[static_cast<size_t>(h) * p_stride + static_cast<size_t>(j)];
      for (int64_t i = first; i < hd; ++i) oh[i] = std::fma(pj, widen(v[j * hd + i]), oh[i]);
    }
  }
}

float same(float x) { return x; }
float from_f16(uint16_t x) { return capibara::fp16_to_f32(x); }
float from_bf16(uint16_t x) { return capibara::bf16_to_f32(x); }

}  // namespace

void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s) {
  scores_of<float, same>(q, n_q, kt, hd, scale, s);
}

void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                     float* s) {
  scores_of<uint16_t, from_f16>(q, n_q, kt, hd, scale, s);
}

void attn_scores_bf16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                      float* s) {
  scores_of<uint16_t, from_bf16>(q, n_q, kt, hd, scale, s);
}

void attn_values_f16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                     int64_t n_keys, int64_t hd, float* o) {
  attn_values_f16_from(p, p_stride, n_q, v, n_keys, hd, 0, o);
}

void attn_values_bf16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                      int64_t n_keys, int64_t hd, float* o) {
  attn_values_bf16_from(p, p_stride, n_q, v, n_keys, hd, 0, o);
}

void attn_values_f16_from(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                          int64_t n_keys, int64_t hd, int64_t first, float* o) {
  values_of<uint16_t, from_f16>(p, p_stride, n_q, v, n_keys, hd, first, o);
}

void attn_values_bf16_from(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                           int64_t n_keys, int64_t hd, int64_t first, float* o) {
  values_of<uint16_t, from_bf16>(p, p_stride, n_q, v, n_keys, hd, first, o);
}

void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd) {
  constexpr int64_t kL = kAttnTileKeys;
  for (int64_t h = 0; h < n_q; ++h) {
    float* sh = s + h * kL;
    float tile_max = sh[lo];
    for (int64_t j = lo + 1; j < lo + n; ++j) tile_max = std::max(tile_max, sh[j]);
    const float m = attn_next_max(run_max[h], tile_max);
    const float c = attn_rescale(run_max[h], m);
    if (c != 1.0f) {
      for (int64_t i = 0; i < hd; ++i) o[h * hd + i] *= c;
    }
    float e[kL] = {};  // the lanes outside the window add nothing
    for (int64_t j = lo; j < lo + n; ++j) e[j] = sh[j] = std::exp(sh[j] - m);
    for (int64_t width = kL / 2; width >= 1; width /= 2) {
      for (int64_t j = 0; j < width; ++j) e[j] += e[j + width];
    }
    run_sum[h] = std::fma(run_sum[h], c, e[0]);
    run_max[h] = m;
  }
}

void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o) {
  attn_values_from(p, p_stride, n_q, v, n_keys, hd, 0, o);
}

void attn_values_from(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                      int64_t hd, int64_t first, float* o) {
  values_of<float, same>(p, p_stride, n_q, v, n_keys, hd, first, o);
}

}  // namespace capibara::kernels::scalar
