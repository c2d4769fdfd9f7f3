// Which activation type each weight type's dot product wants, as data (ggml's `vec_dot_type`).
//
// llama.cpp does not multiply quantized weights with f32 activations: once per matmul it converts
// the activations to the weight type's activation type (8-bit blocks for quantized weights, f16 /
// bf16 for half-precision weights) and then takes integer (or half) dot products block by block.
// capibara does the same so that its results equal llama.cpp's up to float summation order. The
// kernels themselves are per ISA in `KernelTable::quant_dot`; this header only pairs the types.
//
// Thread safety: constant data and pure functions; any thread may call them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/ggml_type.hpp"

namespace capibara::kernels {

struct QuantDotPair {
  GgmlType weight;
  GgmlType activation;  // what `quantize_activations` produces and `vec_dot` reads
};

// Every weight type with a `vec_dot` kernel, and its activation type.
inline constexpr QuantDotPair kQuantDotPairs[] = {
    {GgmlType::kF32, GgmlType::kF32},   {GgmlType::kF16, GgmlType::kF16},
    {GgmlType::kBF16, GgmlType::kBF16}, {GgmlType::kQ4_0, GgmlType::kQ8_0},
    {GgmlType::kQ4_1, GgmlType::kQ8_1}, {GgmlType::kQ5_0, GgmlType::kQ8_0},
    {GgmlType::kQ5_1, GgmlType::kQ8_1}, {GgmlType::kQ8_0, GgmlType::kQ8_0},
    {GgmlType::kQ2_K, GgmlType::kQ8_K}, {GgmlType::kQ3_K, GgmlType::kQ8_K},
    {GgmlType::kQ4_K, GgmlType::kQ8_K}, {GgmlType::kQ5_K, GgmlType::kQ8_K},
    {GgmlType::kQ6_K, GgmlType::kQ8_K},
};

// The activation type of `weight`; nullopt when capibara has no dot product for it.
std::optional<GgmlType> activation_type(GgmlType weight);

// Bytes of one activation row of `n` values for weights of `weight` (a row of its activation
// type). Precondition: `activation_type(weight)` exists and `n` is a multiple of the weight
// type's block size.
size_t activation_row_bytes(GgmlType weight, int64_t n);

// The most bytes an activation row of `n` values can take in any activation type (f32 rows
// excluded: matmul reads f32 activations in place), rounded up to whole blocks.
size_t max_activation_row_bytes(int64_t n);

}  // namespace capibara::kernels
