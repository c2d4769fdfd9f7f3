// Repacks the matrices of the forward pass into the packed layout of the kernel table in use
// (kernels/packed_weights.hpp) and lets go of the mapped pages they replace.
#include <vector>

#include "core/huge_page_buffer.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "model/model.hpp"

namespace capibara {
namespace {

// Each matrix starts on a cache line, as the kernels' aligned loads want.
constexpr size_t kSliceAlignment = 64;

size_t slice_bytes(const kernels::WeightMatrix& m) {
  const size_t bytes = kernels::packed_matrix_bytes(m.type, m.n_rows, m.row_length);
  return (bytes + kSliceAlignment - 1) / kSliceAlignment * kSliceAlignment;
}

bool packable(const kernels::WeightMatrix& m, const kernels::KernelTable& table) {
  return m.data != nullptr && kernels::packed_gemm_kernel(table, m.type) != nullptr &&
         kernels::can_pack(m.type, m.n_rows, m.row_length);
}

// Packs `m` into `destination` (slice_bytes(m) bytes of the arena).
void pack_matrix(kernels::WeightMatrix& m, uint8_t* destination, ThreadPool& pool) {
  const int64_t groups = m.n_rows / kernels::kPackRows;
  pool.parallel_for(groups, [&](int64_t begin, int64_t end, int) {
    kernels::pack_groups(m.type, m.data, m.row_bytes, m.row_length, begin, end, destination);
  });
  m.packed = destination;
}

}  // namespace

void pack_model_weights(ModelWeights& weights, const kernels::KernelTable& table,
                        const gguf::GgufFile& file, ThreadPool& pool) {
  const MappedFile* mapping = file.mapped_file();
  const uint8_t* file_begin = file.bytes().data();
  const auto drop_mapped_pages = [&](const kernels::WeightMatrix& m) {
    if (mapping == nullptr) return;
    mapping->advise(MappedFile::Access::kDone, static_cast<size_t>(m.data - file_begin),
                    static_cast<size_t>(m.n_rows) * m.row_bytes);
  };
  // In the order the forward pass reads them, so decode streams the arena front to back.
  std::vector<kernels::WeightMatrix*> matrices;
  for (LayerWeights& l : weights.layers) {
    for (kernels::WeightMatrix* m :
         {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (packable(*m, table)) matrices.push_back(m);
    }
  }
  if (packable(weights.output, table)) matrices.push_back(&weights.output);

  // One arena for all of them: whole huge pages, none half-used per matrix.
  size_t total = 0;
  for (const kernels::WeightMatrix* m : matrices) total += slice_bytes(*m);
  weights.packed = HugePageBuffer(total);
  uint8_t* next = weights.packed.data();
  // A tied output matrix is packed for the logits but stays mapped for the embedding lookups.
  const bool tied = weights.output.data == weights.token_embd.data;
  for (kernels::WeightMatrix* m : matrices) {
    pack_matrix(*m, next, pool);
    next += slice_bytes(*m);
    if (!(m == &weights.output && tied)) drop_mapped_pages(*m);
  }
}

}  // namespace capibara
