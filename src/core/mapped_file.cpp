// POSIX implementation of `MappedFile`: open, fstat, mmap, close the descriptor right away.
#include "core/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace capibara {
namespace {

[[noreturn]] void throw_os_error(const std::filesystem::path& path, const char* what, int err) {
  throw SystemError("cannot " + std::string(what) + " '" + path.string() +
                    "': " + std::strerror(err));
}

// Closes a descriptor on every path out of the constructor, the throwing ones included.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() { ::close(fd_); }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;

 private:
  int fd_;
};

int to_madvise(MappedFile::Access access) {
  switch (access) {
    case MappedFile::Access::kSequential:
      return MADV_SEQUENTIAL;
    case MappedFile::Access::kRandom:
      return MADV_RANDOM;
    case MappedFile::Access::kWillNeed:
      return MADV_WILLNEED;
    case MappedFile::Access::kDone:
      return MADV_DONTNEED;
    case MappedFile::Access::kNormal:
      break;
  }
  return MADV_NORMAL;
}

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_os_error(path, "open", errno);
  FdGuard guard(fd);

  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_os_error(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) {
    throw SystemError("cannot map '" + path.string() + "': not a regular file");
  }
  if (st.st_size < 0 || static_cast<uintmax_t>(st.st_size) > std::numeric_limits<size_t>::max()) {
    throw SystemError("cannot map '" + path.string() + "': file too large for this platform");
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) return;  // mmap of 0 bytes is an error (EINVAL); an empty view is the answer.

  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (addr == MAP_FAILED) throw_os_error(path, "mmap", errno);
  data_ = static_cast<const uint8_t*>(addr);
  size_ = size;
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::advise(Access access, size_t offset, size_t length) const {
  if (data_ == nullptr || offset >= size_) return;
  // madvise wants a page-aligned start; round the start down to the page holding it.
  const long page = ::sysconf(_SC_PAGESIZE);
  const size_t page_bytes = page > 0 ? static_cast<size_t>(page) : 4096;
  const size_t start = offset - offset % page_bytes;
  const size_t end = length >= size_ - offset ? size_ : offset + length;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): madvise takes a non-const pointer.
  ::madvise(const_cast<uint8_t*>(data_ + start), end - start, to_madvise(access));
}

void MappedFile::release() noexcept {
  if (data_ != nullptr) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): munmap takes a non-const pointer.
    ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace capibara
