// The `<name>.part` file a download appends to: locked, buffered, and always a prefix of the
// remote file, so an interrupted download (Ctrl-C, crash, lost connection) resumes from its size.
//
// Thread safety: one thread at a time. The lock (`flock`) keeps a second process from appending
// to the same file; it is released when the object is destroyed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace capibara::download {

class PartFile {
 public:
  // Opens or creates `path` for appending and locks it; `SystemError` when it cannot, or when
  // another process holds the lock (another download of the same file is running).
  explicit PartFile(std::filesystem::path path);
  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Bytes in the file, buffered ones included.
  uint64_t size_bytes() const { return size_bytes_; }
  // Up to the first `n` bytes on disk (for checking the GGUF magic of an old partial file).
  std::string read_head(size_t n) const;

  // Appends; `SystemError` naming the file on a full disk or any other write error.
  void append(const char* data, size_t n_bytes);
  // Writes buffered bytes to the file (not to the disk: see `sync`).
  void flush();
  // Flushes and fsyncs, so a rename that follows cannot expose a file with missing blocks.
  void sync();
  // Empties the file (the server does not support ranges, or the partial file is unusable).
  void truncate();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t size_bytes_ = 0;
  std::vector<char> buffer_;  // [<= kBufferBytes] appended, not yet written
};

}  // namespace capibara::download
