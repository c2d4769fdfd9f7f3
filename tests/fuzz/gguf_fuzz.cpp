// libFuzzer target for the GGUF reader: any input must parse or throw `capibara::Error`, never
// crash, read out of bounds or allocate without bound. Build with clang:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/gguf_fuzz.cpp \
//     src/gguf/*.cpp src/core/ggml_type.cpp src/core/mapped_file.cpp -lfmt -o gguf_fuzz
//   ./gguf_fuzz -max_len=4096 corpus/   (seed the corpus with small GGUF files)
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using capibara::gguf::GgufFile;
  try {
    const GgufFile f = GgufFile::from_bytes(std::span<const uint8_t>(data, size), "fuzz.gguf");
    // Exercise the lookups on whatever parsed: every key through every typed getter.
    for (const auto& entry : f.metadata()) {
      try {
        (void)f.get_int(entry.key);
      } catch (const capibara::Error&) {
      }
      try {
        (void)f.get_float(entry.key);
      } catch (const capibara::Error&) {
      }
      try {
        (void)f.get_string(entry.key);
      } catch (const capibara::Error&) {
      }
      try {
        (void)f.get_array(entry.key);
      } catch (const capibara::Error&) {
      }
    }
    uint64_t checksum = 0;
    for (const auto& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) __builtin_trap();
      (void)t.n_elements();
      (void)t.row_bytes();
      if (t.n_bytes > 0) checksum += t.data[0] + t.data[t.n_bytes - 1];  // in bounds
    }
    (void)checksum;
    (void)f.architecture();
  } catch (const capibara::Error&) {
  }
  return 0;
}
