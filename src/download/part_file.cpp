// Appending to a locked partial download with POSIX calls (errno tells a full disk apart).
#include "download/part_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "core/error.hpp"

namespace capibara::download {
namespace {

// Large enough that a fast connection costs few system calls, small enough that an interrupted
// process loses little (the lost tail is simply downloaded again).
constexpr size_t kBufferBytes = size_t{1} << 20;

[[noreturn]] void fail(const std::filesystem::path& path, const char* action, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    throw SystemError(fmt::format(
        "no space left on the device while {} '{}': free some space and run the same download "
        "again to resume",
        action, path.string()));
  }
  throw SystemError(
      fmt::format("error while {} '{}': {}", action, path.string(), std::strerror(err)));
}

}  // namespace

PartFile::PartFile(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path_, "opening", errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    if (err == EWOULDBLOCK) {
      throw SystemError(fmt::format("'{}' is locked: another download of the same file is running",
                                    path_.string()));
    }
    fail(path_, "locking", err);
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fail(path_, "reading the size of", err);
  }
  size_bytes_ = static_cast<uint64_t>(st.st_size);
  buffer_.reserve(kBufferBytes);
}

PartFile::~PartFile() {
  try {
    flush();
  } catch (const Error&) {
    // Already reported by the operation that failed; what was written stays resumable.
  }
  ::close(fd_);
}

std::string PartFile::read_head(size_t n) const {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path_, "reading", errno);
  std::string head(n, '\0');
  const ssize_t got = ::pread(fd, head.data(), n, 0);
  const int err = errno;
  ::close(fd);
  if (got < 0) fail(path_, "reading", err);
  head.resize(static_cast<size_t>(got));
  return head;
}

void PartFile::append(const char* data, size_t n_bytes) {
  if (buffer_.size() + n_bytes > kBufferBytes) flush();
  if (n_bytes >= kBufferBytes) {
    buffer_.assign(data, data + n_bytes);
    flush();
  } else {
    buffer_.insert(buffer_.end(), data, data + n_bytes);
  }
  size_bytes_ += n_bytes;
}

void PartFile::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      // Keep `size_bytes_` equal to what the file really holds, so a caller that carries on
      // (or reports progress) does not count bytes that never reached it.
      size_bytes_ -= buffer_.size() - done;
      buffer_.clear();
      fail(path_, "writing", err);
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

void PartFile::sync() {
  flush();
  if (::fsync(fd_) != 0 && errno != EINVAL) fail(path_, "syncing", errno);
}

void PartFile::truncate() {
  buffer_.clear();
  if (::ftruncate(fd_, 0) != 0) fail(path_, "truncating", errno);
  size_bytes_ = 0;
}

}  // namespace capibara::download
