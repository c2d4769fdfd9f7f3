// One HTTP(S) GET that follows redirects by hand and streams the final body to a callback.
//
// Redirects are followed here rather than by cpp-httplib because the Hugging Face Hub puts the
// file's size and sha256 (`X-Linked-Size`, `X-Linked-Etag`) on its 302 to the CDN, which an
// automatic redirect would hide, and because the bearer token must not follow the request to
// another origin (the CDN URL is signed; leaking the user's token to it is pointless and unsafe).
//
// The only file of download/ that uses cpp-httplib. Thread safety: a call runs on the calling
// thread and invokes the callbacks there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "download/model_source.hpp"

namespace capibara::download {

struct FetchRequest {
  Url url;
  std::string bearer_token;             // sent to `url`'s origin only; empty: none
  std::optional<uint64_t> range_start;  // `Range: bytes=N-` when set
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds read_timeout{60};  // the longest silence tolerated mid-transfer
  int max_redirects = 10;
};

// The head of the final (non-redirect) response, plus what the redirect hops said.
struct FetchHead {
  int status = 0;
  Url url;  // after redirects
  std::optional<uint64_t> content_length_bytes;
  std::optional<std::string> content_range;  // raw header
  std::optional<std::string> etag;
  std::optional<std::string> linked_etag;     // `X-Linked-Etag`, from any hop
  std::optional<uint64_t> linked_size_bytes;  // `X-Linked-Size`, from any hop
  std::optional<std::string> error_message;   // `X-Error-Message` (the Hub explains 401/403)
};

// What stopped the transfer early, if anything.
enum class FetchStop {
  kNone,          // the body arrived whole (as far as the transport can tell)
  kByCallback,    // `on_head` or `on_data` returned false
  kNetworkError,  // `FetchResult::error` says what
};

struct FetchResult {
  FetchStop stop = FetchStop::kNone;
  std::string error;  // for kNetworkError: "connection failed (Connection)", ...
};

// Called once with the final response's head; returning false skips its body.
using HeadCallback = std::function<bool(const FetchHead&)>;
// Called for each piece of the final response's body, in order; returning false stops.
using DataCallback = std::function<bool(const char* data, size_t n_bytes)>;

// Performs the GET. Too many redirects, a redirect without `Location` or to another scheme
// than http(s) throw `NetworkError` / `InvalidArgumentError`; transport failures are returned.
FetchResult fetch(const FetchRequest& request, const HeadCallback& on_head,
                  const DataCallback& on_data);

}  // namespace capibara::download
