// SHA-256 through OpenSSL EVP (hardware SHA extensions when the CPU has them).
#include "download/sha256.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <vector>

#include <fmt/core.h>

#include "core/error.hpp"

namespace capibara::download {
namespace {

// OpenSSL reports failures through return codes; these only fail on allocation failure or a
// broken library, which no input can cause.
void check(int ok, const char* what) {
  if (ok != 1) throw SystemError(fmt::format("OpenSSL {} failed", what));
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw SystemError("OpenSSL could not allocate a digest context");
  reset();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::reset() { check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr), "SHA-256 init"); }

void Sha256::update(const void* data, size_t n_bytes) {
  check(EVP_DigestUpdate(ctx_, data, n_bytes), "SHA-256 update");
}

std::string Sha256::hex_digest() const {
  // Finalizing consumes a context, so finalize a copy and keep ours running.
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  if (copy == nullptr) throw SystemError("OpenSSL could not allocate a digest context");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  const int ok = EVP_MD_CTX_copy_ex(copy, ctx_) == 1 && EVP_DigestFinal_ex(copy, digest, &n) == 1;
  EVP_MD_CTX_free(copy);
  check(ok ? 1 : 0, "SHA-256 final");
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hasher;
  hasher.update(data.data(), data.size());
  return hasher.hex_digest();
}

void hash_file_prefix(Sha256& hasher, const std::filesystem::path& path, uint64_t n_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(size_t{4} << 20);  // [4 MiB] read size
  while (in && n_bytes > 0) {
    in.read(buffer.data(),
            static_cast<std::streamsize>(std::min<uint64_t>(buffer.size(), n_bytes)));
    const auto got = static_cast<size_t>(in.gcount());
    hasher.update(buffer.data(), got);
    n_bytes -= got;
  }
  if (n_bytes > 0) throw SystemError(fmt::format("cannot read '{}'", path.string()));
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

std::string normalize_sha256(std::string_view s) {
  std::string_view digest = s;
  if (digest.starts_with("sha256:")) digest.remove_prefix(7);
  if (!is_sha256_hex(digest)) {
    throw InvalidArgumentError(
        fmt::format("'{}' is not a sha256 digest (64 hexadecimal digits expected)", s));
  }
  std::string out(digest);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace capibara::download
