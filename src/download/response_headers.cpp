// Content-Range, byte counts and sha256 entity tags.
#include "download/response_headers.hpp"

#include <cctype>
#include <charconv>

#include "download/sha256.hpp"

namespace capibara::download {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<uint64_t> parse_byte_count(std::string_view value) {
  value = trim(value);
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
    return std::nullopt;
  }
  return n;
}

std::optional<ContentRange> parse_content_range(std::string_view value) {
  value = trim(value);
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  const size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view range = trim(value.substr(0, slash));
  const std::string_view complete = trim(value.substr(slash + 1));
  ContentRange r;
  if (complete != "*") {
    r.complete_length_bytes = parse_byte_count(complete);
    if (!r.complete_length_bytes) return std::nullopt;
  }
  if (range == "*") return r;
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  r.first = parse_byte_count(range.substr(0, dash));
  r.last = parse_byte_count(range.substr(dash + 1));
  if (!r.first || !r.last || *r.last < *r.first) return std::nullopt;
  if (r.complete_length_bytes && *r.last >= *r.complete_length_bytes) return std::nullopt;
  return r;
}

std::optional<std::string> sha256_from_etag(std::string_view etag) {
  etag = trim(etag);
  if (etag.starts_with("W/")) return std::nullopt;  // weak tags promise equivalence, not bytes
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (!is_sha256_hex(etag)) return std::nullopt;
  return normalize_sha256(etag);
}

}  // namespace capibara::download
