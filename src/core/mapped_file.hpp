// Read-only memory mapping of a whole file, owned by one RAII object.
//
// Used by gguf/ (and anything else that reads large files without copying them). The mapping is
// `PROT_READ` + `MAP_PRIVATE`: the bytes never change through it, but a file truncated by
// another process while mapped makes later reads fault (SIGBUS); capibara treats model files as
// immutable while they are loaded.
//
// Thread safety: `bytes()` may be read from any thread; moving or destroying is the owner's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace capibara {

class MappedFile {
 public:
  // How the caller expects to read the bytes; forwarded to `madvise` as a hint only.
  // `kDone` (MADV_DONTNEED) drops the pages from this process (a later read maps them again from
  // the file), so a tool streaming through a large file keeps its resident size small.
  enum class Access { kNormal, kSequential, kRandom, kWillNeed, kDone };

  // Opens and maps `path`. Throws `SystemError` naming the path and the OS reason when it cannot
  // be opened, is not a regular file, or cannot be mapped. An empty file gives empty `bytes()`.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Best-effort hint to the kernel about `[offset, offset + length)` (clamped to the file);
  // failures are ignored because the hint never changes what is read.
  void advise(Access access, size_t offset = 0, size_t length = SIZE_MAX) const;

 private:
  void release() noexcept;

  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;  // [size_] bytes, nullptr when the file is empty
  size_t size_ = 0;
};

}  // namespace capibara
