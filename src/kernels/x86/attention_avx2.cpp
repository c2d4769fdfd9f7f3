// AVX2 attention kernels over one KV tile: the scores of up to a block of keys and the weighted
// sum of their values, each call replacing one `dot_f32` / `axpy_f32` call per key.
//
// Both are bit-identical to those per-key calls (kernel_table.hpp says why that matters): the
// scores run `dot_f32`'s exact lane arithmetic for four keys at once, sharing the query loads;
// the values keep a stretch of the output in registers across the keys, with the same fma per
// element in the same key order as repeated `axpy_f32`.
#include <immintrin.h>

#include "kernels/x86/kernels_avx2.hpp"

namespace capibara::kernels::avx2 {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// dot_f32(q, k_j, hd) for kKeys keys `hd` floats apart, as dot_f32 computes each.
template <int kKeys>
void dots(const float* q, const float* k, int64_t hd, float* out) {
  __m256 acc0[kKeys];
  __m256 acc1[kKeys];
  for (int j = 0; j < kKeys; ++j) acc0[j] = acc1[j] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= hd; i += 16) {
    const __m256 q0 = _mm256_loadu_ps(q + i);
    const __m256 q1 = _mm256_loadu_ps(q + i + 8);
    for (int j = 0; j < kKeys; ++j) {
      acc0[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k + j * hd + i), acc0[j]);
      acc1[j] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k + j * hd + i + 8), acc1[j]);
    }
  }
  for (; i + 8 <= hd; i += 8) {
    const __m256 q0 = _mm256_loadu_ps(q + i);
    for (int j = 0; j < kKeys; ++j) {
      acc0[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k + j * hd + i), acc0[j]);
    }
  }
  for (int j = 0; j < kKeys; ++j) {
    float sum = hsum(_mm256_add_ps(acc0[j], acc1[j]));
    for (int64_t t = i; t < hd; ++t) sum += q[t] * k[j * hd + t];
    out[j] = sum;
  }
}

}  // namespace

void attn_scores(const float* q, const float* k, int64_t n_keys, int64_t hd, float scale,
                 float* s) {
  int64_t j = 0;
  for (; j + 4 <= n_keys; j += 4) dots<4>(q, k + j * hd, hd, s + j);
  for (; j < n_keys; ++j) dots<1>(q, k + j * hd, hd, s + j);
  for (j = 0; j < n_keys; ++j) s[j] *= scale;
}

void attn_values(const float* p, const float* v, int64_t n_keys, int64_t hd, float* o) {
  // Four registers of the output at a time stay in registers across every key.
  int64_t i = 0;
  for (; i + 32 <= hd; i += 32) {
    __m256 o0 = _mm256_loadu_ps(o + i), o1 = _mm256_loadu_ps(o + i + 8);
    __m256 o2 = _mm256_loadu_ps(o + i + 16), o3 = _mm256_loadu_ps(o + i + 24);
    for (int64_t j = 0; j < n_keys; ++j) {
      const __m256 pj = _mm256_set1_ps(p[j]);
      const float* vj = v + j * hd + i;
      o0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), o0);
      o1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), o1);
      o2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), o2);
      o3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), o3);
    }
    _mm256_storeu_ps(o + i, o0);
    _mm256_storeu_ps(o + i + 8, o1);
    _mm256_storeu_ps(o + i + 16, o2);
    _mm256_storeu_ps(o + i + 24, o3);
  }
  for (; i + 8 <= hd; i += 8) {
    __m256 o0 = _mm256_loadu_ps(o + i);
    for (int64_t j = 0; j < n_keys; ++j) {
      o0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * hd + i), o0);
    }
    _mm256_storeu_ps(o + i, o0);
  }
  for (; i < hd; ++i) {
    for (int64_t j = 0; j < n_keys; ++j) o[i] += p[j] * v[j * hd + i];
  }
}

}  // namespace capibara::kernels::avx2
