// The conversion behind `capibara quantize`: plan, header, then each tensor streamed in chunks of
// rows quantized in parallel.
#include "tools/quantize_model.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "core/thread_pool.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/gguf_writer.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/quantize.hpp"

namespace capibara::tools {
namespace {

constexpr std::string_view kQuantizationVersionKey = "general.quantization_version";
constexpr std::string_view kFileTypeKey = "general.file_type";
constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
// A quantized model is one file: llama-quantize drops the split keys of a split input.
constexpr std::array<std::string_view, 3> kSplitKeys = {"split.no", "split.count",
                                                        "split.tensors.count"};
// Rows converted per chunk are sized so a chunk's f32 rows come to about this much.
constexpr size_t kChunkBytes = size_t{8} << 20;
constexpr int kMaxThreads = 1024;

bool is_block_quantized(GgmlType type) { return traits_of(type).block_size > 1; }

// The shape as llama.cpp writes it: trailing dimensions of 1 dropped (`ggml_n_dims`).
std::vector<int64_t> written_shape(const std::vector<int64_t>& shape) {
  size_t n = shape.size();
  while (n > 1 && shape[n - 1] == 1) --n;
  if (shape.empty()) return {1};
  return {shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(n)};
}

bool aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// The output under a temporary name, removed unless `commit` renames it into place.
class PendingFile {
 public:
  explicit PendingFile(std::filesystem::path path)
      : path_(std::move(path)), temp_(path_.string() + ".tmp") {
    file_ = std::fopen(temp_.c_str(), "wb");
    if (file_ == nullptr) fail("create");
  }
  ~PendingFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) {
      std::error_code ignored;
      std::filesystem::remove(temp_, ignored);
    }
  }
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  void write(const void* data, size_t n_bytes) {
    if (n_bytes != 0 && std::fwrite(data, 1, n_bytes, file_) != n_bytes) fail("write");
    written_ += n_bytes;
  }
  void zeros(size_t n_bytes) {
    static constexpr std::array<uint8_t, 256> kZeros{};
    while (n_bytes > 0) {
      const size_t n = std::min(n_bytes, kZeros.size());
      write(kZeros.data(), n);
      n_bytes -= n;
    }
  }
  size_t written() const { return written_; }

  void commit() {
    std::FILE* f = std::exchange(file_, nullptr);
    if (std::fclose(f) != 0) fail("write");
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    if (ec) {
      throw SystemError(fmt::format("cannot rename '{}' to '{}': {}", temp_.string(),
                                    path_.string(), ec.message()));
    }
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw SystemError(
        fmt::format("cannot {} '{}': {}", what, temp_.string(), std::strerror(errno)));
  }

  std::filesystem::path path_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  size_t written_ = 0;
  bool committed_ = false;
};

// Per-thread buffers for rows that must be copied or dequantized before quantizing.
struct RowScratch {
  std::vector<float> f32;     // [row_length]
  std::vector<uint64_t> raw;  // [from_row_bytes / 8 + 1]: a misaligned source row
};

// The input's pages of `[data, data + n_bytes)` are done with: drop them from this process, so
// the resident size stays at a chunk however large the model (a later read maps them again).
class InputPages {
 public:
  explicit InputPages(const gguf::GgufFile& file) : file_(file) {}
  void will_need(const uint8_t* data, size_t n_bytes) const {
    advise(MappedFile::Access::kWillNeed, data, n_bytes);
  }
  void done(const uint8_t* data, size_t n_bytes) const {
    advise(MappedFile::Access::kDone, data, n_bytes);
  }

 private:
  void advise(MappedFile::Access access, const uint8_t* data, size_t n_bytes) const {
    if (file_.mapped_file() == nullptr || n_bytes == 0) return;
    file_.mapped_file()->advise(access, static_cast<size_t>(data - file_.bytes().data()), n_bytes);
  }
  const gguf::GgufFile& file_;
};

// Copies or converts one tensor chunk by chunk, streaming it to `out`.
class TensorConverter {
 public:
  TensorConverter(ThreadPool& pool, std::vector<RowScratch>& scratch, const InputPages& pages)
      : pool_(pool), scratch_(scratch), pages_(pages) {}

  void copy(const gguf::TensorInfo& t, PendingFile& out) {
    for (size_t done = 0; done < t.n_bytes; done += kChunkBytes) {
      const size_t n = std::min(kChunkBytes, t.n_bytes - done);
      out.write(t.data + done, n);
      pages_.done(t.data + done, n);
    }
  }

  void convert(const gguf::TensorInfo& t, GgmlType to, PendingFile& out) {
    const int64_t row_length = t.row_length();
    const int64_t n_rows = t.n_rows();
    if (row_length == 0 || n_rows == 0) return;
    const size_t from_row_bytes = t.row_bytes();
    const size_t to_row_bytes = *ggml_row_bytes(to, row_length);
    const size_t widest_row =
        std::max({from_row_bytes, to_row_bytes, static_cast<size_t>(row_length) * sizeof(float)});
    int64_t rows_per_chunk = static_cast<int64_t>(std::max<size_t>(1, kChunkBytes / widest_row));
    rows_per_chunk = std::min(n_rows, std::max<int64_t>(rows_per_chunk, pool_.size()));
    out_.resize((static_cast<size_t>(rows_per_chunk) * to_row_bytes + 7) / 8);
    for (auto& s : scratch_) {
      s.f32.resize(static_cast<size_t>(row_length));
      s.raw.resize(from_row_bytes / 8 + 1);
    }

    auto* out_bytes = reinterpret_cast<uint8_t*>(out_.data());
    for (int64_t first = 0; first < n_rows; first += rows_per_chunk) {
      const int64_t rows = std::min(rows_per_chunk, n_rows - first);
      std::atomic<int64_t> bad_row{-1};
      pool_.parallel_for(rows, [&](int64_t begin, int64_t end, int thread) {
        RowScratch& s = scratch_[static_cast<size_t>(thread)];
        for (int64_t r = begin; r < end; ++r) {
          const uint8_t* src = t.data + static_cast<size_t>(first + r) * from_row_bytes;
          const float* x = nullptr;
          if (t.type == GgmlType::kF32 && aligned(src, alignof(float))) {
            x = reinterpret_cast<const float*>(src);
          } else {
            const void* row = src;
            if (!aligned(src, alignof(uint64_t))) {
              std::memcpy(s.raw.data(), src, from_row_bytes);
              row = s.raw.data();
            }
            kernels::dequantize_row_ref(t.type, row, s.f32.data(), row_length);
            x = s.f32.data();
          }
          if (!std::all_of(x, x + row_length, [](float v) { return std::isfinite(v); })) {
            int64_t expected = -1;
            bad_row.compare_exchange_strong(expected, first + r);
            continue;
          }
          kernels::quantize_row_ref(to, x, out_bytes + static_cast<size_t>(r) * to_row_bytes,
                                    row_length);
        }
      });
      if (const int64_t row = bad_row.load(); row >= 0) {
        throw FormatError(
            fmt::format("tensor '{}' holds a NaN or infinite weight (row {}): it "
                        "cannot be quantized",
                        t.name, row));
      }
      out.write(out_bytes, static_cast<size_t>(rows) * to_row_bytes);
      pages_.done(t.data + static_cast<size_t>(first) * from_row_bytes,
                  static_cast<size_t>(rows) * from_row_bytes);
    }
  }

 private:
  ThreadPool& pool_;
  std::vector<RowScratch>& scratch_;
  const InputPages& pages_;
  std::vector<uint64_t> out_;  // one chunk of converted rows, 8-byte aligned
};

// Everything a tensor will become, checked before the output file is created.
struct Step {
  const gguf::TensorInfo* tensor = nullptr;
  TypeChoice choice;
  std::vector<int64_t> shape;  // as written
  size_t to_bytes = 0;
};

std::vector<Step> checked_steps(const gguf::GgufFile& file, const QuantizeOptions& options) {
  std::vector<Step> steps;
  for (PlannedTensor& p : plan_quantization(file, options.target)) {
    const gguf::TensorInfo& t = file.tensors()[p.index];
    if (p.choice.converted) {
      if (!kernels::can_dequantize(t.type)) {
        throw UnsupportedError(
            fmt::format("tensor '{}' is stored as {}, which capibara cannot "
                        "convert",
                        t.name, ggml_type_name(t.type)));
      }
      if (is_block_quantized(t.type) && !options.allow_requantize) {
        throw InvalidArgumentError(fmt::format(
            "tensor '{}' is already quantized ({}): requantizing adds the errors of both "
            "quantizations; start from an f32, f16 or bf16 model, or pass --allow-requantize",
            t.name, ggml_type_name(t.type)));
      }
    }
    Step step{&t, std::move(p.choice), written_shape(t.shape), t.n_bytes};
    if (step.choice.converted) {
      step.to_bytes =
          *ggml_row_bytes(step.choice.type, t.row_length()) * static_cast<size_t>(t.n_rows());
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

gguf::GgufWriter output_header(const gguf::GgufFile& file, const std::vector<Step>& steps,
                               QuantTarget target) {
  gguf::GgufWriter writer;  // takes the input's alignment from its `general.alignment`, if any
  for (const gguf::MetadataEntry& entry : file.metadata()) {
    const bool dropped =
        entry.key == kQuantizationVersionKey || entry.key == kFileTypeKey ||
        std::find(kSplitKeys.begin(), kSplitKeys.end(), entry.key) != kSplitKeys.end();
    if (!dropped) writer.set(entry.key, entry.value);
  }
  // llama.cpp's `gguf_set_val_u32` removes a key and appends it, so these two always come last.
  writer.set_u32(kQuantizationVersionKey, kQuantizationVersion);
  writer.set_u32(kFileTypeKey, static_cast<uint32_t>(target));
  if (writer.alignment() != file.alignment()) {
    throw FormatError(
        fmt::format("{}: general.alignment is not a valid unsigned 32-bit power of "
                    "two",
                    file.display_name()));
  }
  for (const Step& s : steps) writer.add_tensor_info(s.tensor->name, s.choice.type, s.shape);
  return writer;
}

}  // namespace

QuantizeSummary quantize_model(const std::filesystem::path& input,
                               const std::filesystem::path& output, const QuantizeOptions& options,
                               const TensorReportFn& on_tensor) {
  const auto start = std::chrono::steady_clock::now();
  if (options.n_threads < 0 || options.n_threads > kMaxThreads) {
    throw InvalidArgumentError(
        fmt::format("--threads {} is out of range (0 to {})", options.n_threads, kMaxThreads));
  }
  const gguf::GgufFile file = gguf::GgufFile::open(input);
  std::error_code ec;
  if (std::filesystem::equivalent(input, output, ec)) {
    throw InvalidArgumentError(
        fmt::format("the output '{}' is the input file: write the quantized model to a new file",
                    output.string()));
  }
  const std::vector<Step> steps = checked_steps(file, options);
  const gguf::GgufWriter header = output_header(file, steps, options.target);

  ThreadPool pool(options.n_threads);
  std::vector<RowScratch> scratch(static_cast<size_t>(pool.size()));
  const InputPages pages(file);
  TensorConverter converter(pool, scratch, pages);

  QuantizeSummary summary;
  summary.n_tensors = static_cast<int>(steps.size());
  summary.file_type = static_cast<uint32_t>(options.target);
  summary.n_threads = pool.size();
  PendingFile out(output);
  const std::vector<uint8_t> header_bytes = header.header_bytes();
  out.write(header_bytes.data(), header_bytes.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    const gguf::TensorInfo& t = *s.tensor;
    pages.will_need(t.data, t.n_bytes);
    const size_t before = out.written();
    if (s.choice.converted) {
      converter.convert(t, s.choice.type, out);
    } else {
      converter.copy(t, out);
    }
    if (out.written() - before != s.to_bytes) {
      throw std::logic_error(fmt::format("quantize: tensor '{}' came to {} bytes, {} planned",
                                         t.name, out.written() - before, s.to_bytes));
    }
    out.zeros(header.padding_after(s.to_bytes));

    summary.n_converted += s.choice.converted ? 1 : 0;
    summary.n_fallbacks += s.choice.fallback ? 1 : 0;
    summary.n_weights += t.n_elements();
    summary.input_tensor_bytes += t.n_bytes;
    summary.output_tensor_bytes += s.to_bytes;
    if (on_tensor) {
      on_tensor(TensorReport{static_cast<int>(i) + 1, summary.n_tensors, t.name, t.shape, t.type,
                             s.choice.type, t.n_bytes, s.to_bytes, s.choice.fallback,
                             s.choice.note});
    }
  }
  summary.output_file_bytes = out.written();
  out.commit();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace capibara::tools
