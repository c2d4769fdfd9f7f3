// Repacks the matrices of the forward pass into the packed layout of the kernel table in use
// (kernels/packed_weights.hpp) and lets go of the mapped pages they replace.
#include <vector>

#include "core/aligned_buffer.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "model/model.hpp"

namespace capibara {
namespace {

// Packs `m` into a new buffer of `storage` when `table` has a packed kernel for it.
bool pack_matrix(kernels::WeightMatrix& m, const kernels::KernelTable& table,
                 std::vector<AlignedBuffer>& storage, ThreadPool& pool) {
  if (m.data == nullptr || kernels::packed_gemm_kernel(table, m.type) == nullptr ||
      !kernels::can_pack(m.type, m.n_rows, m.row_length)) {
    return false;
  }
  const int64_t groups = m.n_rows / kernels::kPackRows;
  AlignedBuffer& buffer =
      storage.emplace_back(kernels::packed_matrix_bytes(m.type, m.n_rows, m.row_length));
  pool.parallel_for(groups, [&](int64_t begin, int64_t end, int) {
    kernels::pack_groups(m.type, m.data, m.row_bytes, m.row_length, begin, end, buffer.data());
  });
  m.packed = buffer.data();
  return true;
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
  // A tied output matrix is packed for the logits but stays mapped for the embedding lookups.
  const bool tied = weights.output.data == weights.token_embd.data;
  if (pack_matrix(weights.output, table, weights.packed, pool) && !tied) {
    drop_mapped_pages(weights.output);
  }
  for (LayerWeights& l : weights.layers) {
    for (kernels::WeightMatrix* m :
         {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (pack_matrix(*m, table, weights.packed, pool)) drop_mapped_pages(*m);
    }
  }
}

}  // namespace capibara
