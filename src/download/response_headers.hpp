// Parsing of the response headers a resumable, verifiable download relies on.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace capibara::download {

// `Content-Range: bytes FIRST-LAST/COMPLETE` (206) or `bytes */COMPLETE` (416); COMPLETE may
// be "*" (unknown).
struct ContentRange {
  std::optional<uint64_t> first;  // absent for "bytes */N"
  std::optional<uint64_t> last;   // inclusive
  std::optional<uint64_t> complete_length_bytes;
};
std::optional<ContentRange> parse_content_range(std::string_view value);

// A decimal byte count such as a `Content-Length` or `X-Linked-Size`; nullopt when malformed.
std::optional<uint64_t> parse_byte_count(std::string_view value);

// The sha256 an entity tag carries, lowercased, when it is one: Hugging Face sends the LFS
// object's sha256 as `X-Linked-Etag: "<64 hex>"` (and as `ETag` when it serves the file
// itself). Weak tags (`W/"..."`) and anything that is not 64 hex digits give nullopt.
std::optional<std::string> sha256_from_etag(std::string_view etag);

}  // namespace capibara::download
