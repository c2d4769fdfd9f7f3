// SHA-256 over OpenSSL's EVP interface, fed incrementally as a download streams in.
//
// One `Sha256` belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace capibara::download {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t n_bytes);
  // The digest of everything fed since construction or `reset`, as 64 lowercase hex digits.
  // Does not disturb the running state, so more data may follow.
  std::string hex_digest() const;
  void reset();

 private:
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view data);

// Feeds the first `n_bytes` of `path` to `hasher`; `SystemError` when it cannot be read.
void hash_file_prefix(Sha256& hasher, const std::filesystem::path& path, uint64_t n_bytes);

// Whether `s` is 64 hex digits (either case).
bool is_sha256_hex(std::string_view s);

// `s` lowercased when it is a sha256 hex digest (an optional "sha256:" prefix is accepted);
// otherwise `InvalidArgumentError`.
std::string normalize_sha256(std::string_view s);

}  // namespace capibara::download
