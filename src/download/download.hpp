// download/: fetches a model file (GGUF) over HTTP(S) into a local folder, resumably and verified.
//
// The library behind `capibara pull`, kept free of terminal concerns so that the registry can
// reuse it to fetch a missing expert: nothing here prints; progress and notices go to the
// caller's callbacks. It uses gguf/ (to validate what arrived) and core/; cli/ and registry/ may
// call it. A download runs on the calling thread, which also runs the callbacks.
//
// One download, as `download_model` runs it:
//
//   RESOLVE source ──(final file exists, no force)──> CHECK it (GGUF, sha256) ──> done
//     │
//   OPEN + LOCK <dir>/<name>.part ──(holds N > 0 bytes)──> HASH them, resume at N
//     │
//   REQUEST (Range: bytes=N- when N > 0), following redirects
//     ├─ 206 from N ───────────> STREAM, appending ──┐
//     ├─ 200 ──> truncate (N = 0) ──> STREAM ───────┤
//     ├─ 416 and N is the size ─────────────────────┤  (nothing was missing)
//     └─ other status ──> HttpError                  │
//                                                    v
//   whole? ──no──> NetworkError; retried (resuming) up to `max_retries`; the .part stays
//     │ yes
//   VERIFY size, sha256 (expected and/or the server's), GGUF ──fails──> error; the .part stays
//     │
//   FSYNC ──> RENAME <name>.part to <name>
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "download/download_error.hpp"
#include "download/model_source.hpp"

namespace capibara::download {

struct DownloadRequest {
  std::string source;                      // URL or Hugging Face reference (model_source.hpp)
  std::filesystem::path output_dir = ".";  // created when missing
  std::string file_name;                   // empty: the source's last path segment
  // Bearer token, sent to the source's origin only (not to a CDN it redirects to). Empty: none.
  std::string token;
  std::string expected_sha256;  // empty: none; otherwise 64 hex digits
  // Replace an existing final file and discard a partial one instead of resuming it.
  bool force = false;
  std::string hf_endpoint = std::string(kHuggingFaceEndpoint);
  int max_retries = 3;  // further attempts after a network error or a 5xx / 429
  std::chrono::milliseconds retry_delay{1000};  // before the first retry; doubles, at most 30 s
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds read_timeout{60};
  const std::atomic<bool>* cancel = nullptr;  // set it (from any thread) to stop: CancelledError
};

struct DownloadProgress {
  uint64_t downloaded_bytes = 0;        // in the partial file, earlier runs' bytes included
  std::optional<uint64_t> total_bytes;  // when the server said
  uint64_t resumed_from_bytes = 0;      // what the current request started from
  double elapsed_s = 0;                 // since `download_model` was called
};

struct DownloadObserver {
  std::function<void(const DownloadProgress&)> on_progress;  // after each received piece
  std::function<void(std::string_view)> on_notice;  // one sentence: resuming, retrying, ...
};

struct DownloadResult {
  std::filesystem::path path;  // the final file
  std::string url;             // the first URL requested
  uint64_t size_bytes = 0;
  uint64_t transferred_bytes = 0;   // received over the network by this call
  uint64_t resumed_from_bytes = 0;  // already on disk when this call started
  bool already_present = false;     // the final file existed (no `force`): nothing downloaded
  std::string sha256;               // of the file; empty when `already_present` and not checked
  bool sha256_matched_expected = false;  // `expected_sha256` was given and matched
  bool sha256_matched_server = false;    // the server announced a sha256 ETag and it matched
  std::string architecture;              // `general.architecture`, "" when absent
  size_t n_tensors = 0;
};

// Downloads `request.source` into `request.output_dir` and returns where the file is. Throws
// `InvalidArgumentError` (bad source or digest), `HttpError`, `NetworkError`, `IntegrityError`,
// `FormatError` (not GGUF), `SystemError` (disk) or `CancelledError`; the partial file stays in
// place after any of them except a bad argument, so the same call later resumes.
DownloadResult download_model(const DownloadRequest& request,
                              const DownloadObserver& observer = {});

}  // namespace capibara::download
