// Typed failures of a model download, so callers can tell "try again later" from "wrong input".
//
// Each is a `capibara::Error` whose `what()` is one complete sentence naming the URL or file;
// the front ends print it as is. Disk problems are `SystemError`, a payload that is not GGUF is
// `FormatError`, a bad source or flag is `InvalidArgumentError` (all from core/error.hpp).
#pragma once

#include <string>

#include "core/error.hpp"

namespace capibara::download {

// The connection failed or broke mid-transfer (DNS, refused, TLS, timeout, closed early). The
// partial file is kept, so running the same download again resumes it.
class NetworkError : public Error {
 public:
  using Error::Error;
};

// The server answered with a status that is not the file (401, 403, 404, 5xx, ...).
class HttpError : public Error {
 public:
  HttpError(int status, std::string url, const std::string& message)
      : Error(message), status_(status), url_(std::move(url)) {}

  int status() const { return status_; }
  const std::string& url() const { return url_; }
  // Server-side and rate-limit statuses may succeed on a later attempt; client errors will not.
  bool retryable() const { return status_ == 408 || status_ == 429 || status_ >= 500; }

 private:
  int status_;
  std::string url_;
};

// The bytes arrived but are not the promised file: wrong size or wrong sha256.
class IntegrityError : public Error {
 public:
  using Error::Error;
};

// The caller asked the download to stop (`DownloadRequest::cancel`); the partial file is kept.
class CancelledError : public Error {
 public:
  using Error::Error;
};

}  // namespace capibara::download
