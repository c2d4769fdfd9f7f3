// `download_model`: the state machine drawn in download.hpp, over `fetch` and a `PartFile`.
#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>
#include <thread>

#include <fmt/core.h>

#include "core/error.hpp"
#include "download/download.hpp"
#include "download/http_fetch.hpp"
#include "download/part_file.hpp"
#include "download/response_headers.hpp"
#include "download/sha256.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara::download {
namespace {

constexpr std::string_view kGgufMagic = "GGUF";
constexpr size_t kShownPrefixBytes = 16;  // of a non-GGUF payload, quoted in the error
constexpr std::chrono::milliseconds kMaxRetryDelay{30'000};

std::string megabytes(uint64_t n_bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(n_bytes) / 1e6);
}

// The first bytes of a payload as printable text, so the error shows "<!DOCTYPE html>" for the
// classic mistake of downloading a web page.
std::string printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes.substr(0, kShownPrefixBytes)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '.';
  }
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

void validate_file_name(const std::string& name, const std::string& url) {
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
    throw InvalidArgumentError(fmt::format(
        "cannot tell a file name from '{}': give the file name explicitly (--name)", url));
  }
}

class Downloader {
 public:
  Downloader(const DownloadRequest& request, const DownloadObserver& observer)
      : request_(request), observer_(observer), start_(std::chrono::steady_clock::now()) {}

  // A failed download that received nothing leaves no empty partial file behind.
  ~Downloader() {
    if (part_ && part_->size_bytes() == 0) {
      const auto path = part_->path();
      part_.reset();
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  }
  Downloader(const Downloader&) = delete;
  Downloader& operator=(const Downloader&) = delete;

  DownloadResult run() {
    source_ = resolve_model_source(request_.source, request_.hf_endpoint);
    result_.url = source_.url;
    const std::string name = request_.file_name.empty() ? source_.file_name : request_.file_name;
    validate_file_name(name, source_.url);
    if (!request_.expected_sha256.empty()) {
      expected_sha256_ = normalize_sha256(request_.expected_sha256);
    }
    std::error_code ec;
    std::filesystem::create_directories(request_.output_dir, ec);
    if (ec) {
      throw SystemError(fmt::format("cannot create the folder '{}': {}",
                                    request_.output_dir.string(), ec.message()));
    }
    final_path_ = request_.output_dir / name;
    if (!request_.force && std::filesystem::exists(final_path_)) return check_existing();

    part_ = std::make_unique<PartFile>(final_path_.string() + ".part");
    if (request_.force && part_->size_bytes() > 0) part_->truncate();
    result_.resumed_from_bytes = part_->size_bytes();
    for (int attempt = 0;; ++attempt) {
      try {
        transfer();
        break;
      } catch (const NetworkError& e) {
        if (attempt >= request_.max_retries) throw NetworkError(e.what() + resume_hint());
        wait_before_retry(e.what(), attempt);
      } catch (const HttpError& e) {
        if (!e.retryable() || attempt >= request_.max_retries) throw;
        wait_before_retry(e.what(), attempt);
      }
    }
    return verify_and_install();
  }

 private:
  void notice(const std::string& message) const {
    if (observer_.on_notice) observer_.on_notice(message);
  }

  std::string resume_hint() const {
    if (part_->size_bytes() == 0) return "";
    return fmt::format("; {} kept in '{}': run the same download again to resume",
                       megabytes(part_->size_bytes()), part_->path().string());
  }

  bool cancelled() const { return request_.cancel != nullptr && request_.cancel->load(); }

  [[noreturn]] void throw_cancelled() const {
    throw CancelledError(fmt::format("download of {} cancelled; {} kept for resuming", source_.url,
                                     part_->path().string()));
  }

  void wait_before_retry(const char* what, int attempt) {
    const auto delay =
        std::min(request_.retry_delay * (1 << std::min(attempt, 16)), kMaxRetryDelay);
    notice(fmt::format("{} (retrying in {:.0f} s, attempt {} of {})", what,
                       std::chrono::duration<double>(delay).count(), attempt + 2,
                       request_.max_retries + 1));
    const auto until = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < until) {
      if (cancelled()) throw_cancelled();
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    }
  }

  // The final file is there already: do not download, but do not vouch for a broken file either.
  DownloadResult check_existing() {
    result_.path = final_path_;
    result_.already_present = true;
    result_.size_bytes = std::filesystem::file_size(final_path_);
    if (!expected_sha256_.empty()) {
      Sha256 hasher;
      hash_file_prefix(hasher, final_path_, result_.size_bytes);
      result_.sha256 = hasher.hex_digest();
      if (result_.sha256 != expected_sha256_) {
        throw IntegrityError(fmt::format(
            "'{}' already exists with sha256 {}, not the expected {}: use --force to download "
            "it again",
            final_path_.string(), result_.sha256, expected_sha256_));
      }
      result_.sha256_matched_expected = true;
    }
    try {
      describe_gguf(final_path_);
    } catch (const Error& e) {
      throw FormatError(
          fmt::format("'{}' already exists but is not a valid GGUF file ({}): use "
                      "--force to download it again",
                      final_path_.string(), e.what()));
    }
    return result_;
  }

  void describe_gguf(const std::filesystem::path& path) {
    const auto file = gguf::GgufFile::open(path);
    result_.architecture = file.architecture();
    result_.n_tensors = file.tensors().size();
  }

  // Leaves the partial file empty and the digest matching it.
  void restart() {
    part_->truncate();
    hasher_.reset();
    prefix_ = {};
  }

  // Returns when the partial file holds the whole file, throws otherwise. A server that answers
  // a range request with the wrong range (or 416 for a file it has) makes the partial file
  // unusable: it is emptied and requested once more from the start, without counting as a retry.
  void transfer() {
    part_->flush();
    if (part_->size_bytes() > 0 && !hasher_covers_part_) {
      // A partial file from an earlier run: a web page saved by mistake must not be extended
      // with the model's bytes, and the digest must cover the bytes already there.
      const std::string head = part_->read_head(kShownPrefixBytes);
      if (!head.starts_with(kGgufMagic)) {
        notice(fmt::format("discarding '{}': it does not start like a GGUF file",
                           part_->path().string()));
        restart();
      } else {
        notice(fmt::format("resuming '{}' from {}", part_->path().string(),
                           megabytes(part_->size_bytes())));
        hash_file_prefix(hasher_, part_->path(), part_->size_bytes());
        prefix_ = head;
      }
    }
    hasher_covers_part_ = true;
    if (!request_once()) {
      notice(restart_reason_);
      if (!request_once()) throw NetworkError(restart_reason_);
    }
  }

  // One GET from the partial file's end; false when the partial file had to be emptied.
  bool request_once() {
    offset_ = part_->size_bytes();
    total_bytes_.reset();
    complete_ = false;
    restart_reason_.clear();
    head_received_ = false;
    pending_ = nullptr;

    FetchRequest fetch_request;
    fetch_request.url = parse_url(source_.url);
    fetch_request.bearer_token = request_.token;
    if (offset_ > 0) fetch_request.range_start = offset_;
    fetch_request.connect_timeout = request_.connect_timeout;
    fetch_request.read_timeout = request_.read_timeout;
    const FetchResult fetched = fetch(
        fetch_request,
        [this](const FetchHead& head) { return guarded([&] { return on_head(head); }); },
        [this](const char* data, size_t n) { return guarded([&] { return on_data(data, n); }); });
    part_->flush();
    if (pending_) std::rethrow_exception(pending_);
    if (!restart_reason_.empty()) return false;
    if (complete_) return true;
    const std::string got = total_bytes_ ? fmt::format("{} of {}", megabytes(part_->size_bytes()),
                                                       megabytes(*total_bytes_))
                                         : megabytes(part_->size_bytes());
    if (fetched.stop == FetchStop::kNetworkError) {
      if (!head_received_) {
        throw NetworkError(fmt::format("cannot download {}: {}", source_.url, fetched.error));
      }
      throw NetworkError(
          fmt::format("download of {} stopped at {}: {}", source_.url, got, fetched.error));
    }
    if (total_bytes_ && part_->size_bytes() < *total_bytes_) {
      throw NetworkError(fmt::format(
          "download of {} stopped at {}: the server ended the response early", source_.url, got));
    }
    if (total_bytes_ && part_->size_bytes() > *total_bytes_) {
      throw IntegrityError(fmt::format(
          "{} sent {} bytes, more than the {} it announced; kept as '{}', use --force to "
          "download it again",
          source_.url, part_->size_bytes(), *total_bytes_, part_->path().string()));
    }
    return true;
  }

  // Callbacks run inside cpp-httplib, which must not see an exception: keep it for later.
  template <typename F>
  bool guarded(F&& f) {
    try {
      return f();
    } catch (...) {
      pending_ = std::current_exception();
      return false;
    }
  }

  bool on_head(const FetchHead& head) {
    head_received_ = true;
    const std::string range_text = head.content_range.value_or("(none)");
    if (head.status == 206) {
      const auto range = parse_content_range(head.content_range.value_or(""));
      if (!range || range->first != offset_) {
        // Appending bytes from anywhere but the end of the partial file would corrupt it.
        restart();
        restart_reason_ =
            fmt::format("{} answered a request for bytes {}- with the range {}: starting over",
                        head.url.str(true), offset_, range_text);
        return false;
      }
      total_bytes_ = range->complete_length_bytes;
      if (!total_bytes_ && head.content_length_bytes) {
        total_bytes_ = offset_ + *head.content_length_bytes;
      }
    } else if (head.status == 416) {
      const auto range = parse_content_range(head.content_range.value_or(""));
      if (offset_ > 0 && range && range->complete_length_bytes == offset_) {
        complete_ = true;  // an earlier run received everything but stopped before renaming
        total_bytes_ = offset_;
        remember_server_digest(head);
        return false;
      }
      restart();
      restart_reason_ = fmt::format(
          "{} cannot serve bytes {}- (416, content range {}): the partial file does not belong "
          "to it; starting over",
          head.url.str(true), offset_, range_text);
      return false;
    } else if (head.status >= 200 && head.status < 300) {
      if (offset_ > 0) {
        notice(fmt::format("{} does not resume downloads (it sent the whole file): starting over",
                           head.url.str(true)));
        restart();
        offset_ = 0;
      }
      total_bytes_ = head.content_length_bytes;
    } else {
      throw http_error(head);
    }
    if (!total_bytes_) total_bytes_ = head.linked_size_bytes;
    remember_server_digest(head);
    check_free_space();
    report_progress();
    return true;
  }

  void remember_server_digest(const FetchHead& head) {
    linked_size_bytes_ = head.linked_size_bytes;
    server_sha256_.reset();
    if (head.linked_etag) server_sha256_ = sha256_from_etag(*head.linked_etag);
    if (!server_sha256_ && head.etag) server_sha256_ = sha256_from_etag(*head.etag);
  }

  void check_free_space() const {
    if (!total_bytes_ || *total_bytes_ <= offset_) return;
    std::error_code ec;
    const auto space = std::filesystem::space(request_.output_dir, ec);
    const uint64_t needed = *total_bytes_ - offset_;
    if (!ec && space.available < needed) {
      throw SystemError(
          fmt::format("not enough space in '{}': the download needs {} more, {} "
                      "are free",
                      request_.output_dir.string(), megabytes(needed), megabytes(space.available)));
    }
  }

  bool on_data(const char* data, size_t n_bytes) {
    if (cancelled()) throw_cancelled();
    part_->append(data, n_bytes);
    hasher_.update(data, n_bytes);
    result_.transferred_bytes += n_bytes;
    // The first bytes tell a GGUF file from an HTML error page: stop at once on the latter
    // rather than after downloading all of it.
    if (prefix_.size() < kShownPrefixBytes) {
      prefix_.append(data, std::min(n_bytes, kShownPrefixBytes - prefix_.size()));
      if (prefix_.size() >= kGgufMagic.size() && !prefix_.starts_with(kGgufMagic)) {
        throw FormatError(fmt::format(
            "{} is not a GGUF file (it starts with \"{}\"; is the URL a web page rather than the "
            "file?); what arrived is in '{}'",
            source_.url, printable(prefix_), part_->path().string()));
      }
    }
    report_progress();
    return true;
  }

  void report_progress() const {
    if (!observer_.on_progress) return;
    DownloadProgress p;
    p.downloaded_bytes = part_->size_bytes();
    p.total_bytes = total_bytes_;
    p.resumed_from_bytes = offset_;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    observer_.on_progress(p);
  }

  HttpError http_error(const FetchHead& head) const {
    const std::string where =
        head.url.str(true) == parse_url(source_.url).str(true)
            ? source_.url
            : fmt::format("{} (redirected to {})", source_.url, head.url.str(true));
    const std::string server_says =
        head.error_message ? fmt::format(" (the server says: {})", *head.error_message) : "";
    std::string text = fmt::format("HTTP {} {}", head.status, reason_phrase(head.status));
    while (text.ends_with(' ')) text.pop_back();
    std::string message;
    if (head.status == 401) {
      message =
          request_.token.empty()
              ? fmt::format(
                    "{} from {}{}: the file is private, gated or does not exist; "
                    "pass a token with access (HF_TOKEN or --token)",
                    text, where, server_says)
              : fmt::format("{} from {}{}: the token was not accepted", text, where, server_says);
    } else if (head.status == 403) {
      message = fmt::format(
          "{} from {}{}: access denied (for a gated Hugging Face model, accept its conditions "
          "on the model page with the account of the token)",
          text, where, server_says);
    } else if (head.status == 404) {
      message = fmt::format("{}: {}{}{}", text, where, server_says,
                            source_.hf ? " (check the repository, file name and revision)" : "");
    } else if (head.status == 429) {
      message = fmt::format("{} from {}: rate limited, try again later", text, where);
    } else {
      message = fmt::format("{} from {}{}", text, where, server_says);
    }
    return HttpError(head.status, source_.url, message);
  }

  DownloadResult verify_and_install() {
    part_->sync();
    const std::string part_name = part_->path().string();
    result_.size_bytes = part_->size_bytes();
    if (linked_size_bytes_ && *linked_size_bytes_ != result_.size_bytes) {
      throw IntegrityError(fmt::format(
          "{} arrived with {} bytes, but the server announced {} (X-Linked-Size); kept as '{}', "
          "use --force to download it again",
          source_.url, result_.size_bytes, *linked_size_bytes_, part_name));
    }
    result_.sha256 = hasher_.hex_digest();
    if (!expected_sha256_.empty()) {
      if (result_.sha256 != expected_sha256_) {
        throw IntegrityError(fmt::format(
            "sha256 mismatch for {}: expected {}, got {}; kept as '{}' (if the expected digest "
            "is right, use --force to download it again)",
            source_.url, expected_sha256_, result_.sha256, part_name));
      }
      result_.sha256_matched_expected = true;
    }
    if (server_sha256_) {
      if (result_.sha256 != *server_sha256_) {
        throw IntegrityError(fmt::format(
            "sha256 mismatch for {}: the server announced {}, the download has {}; kept as '{}', "
            "use --force to download it again",
            source_.url, *server_sha256_, result_.sha256, part_name));
      }
      result_.sha256_matched_server = true;
    }
    try {
      describe_gguf(part_->path());
    } catch (const Error& e) {
      throw FormatError(fmt::format("{} is not a valid GGUF model ({}); kept as '{}'", source_.url,
                                    e.what(), part_name));
    }
    std::error_code ec;
    std::filesystem::rename(part_->path(), final_path_, ec);
    if (ec) {
      throw SystemError(fmt::format("cannot rename '{}' to '{}': {}", part_name,
                                    final_path_.string(), ec.message()));
    }
    part_.reset();
    result_.path = final_path_;
    return result_;
  }

  const DownloadRequest& request_;
  const DownloadObserver& observer_;
  const std::chrono::steady_clock::time_point start_;
  ModelSource source_;
  std::filesystem::path final_path_;
  std::string expected_sha256_;
  std::unique_ptr<PartFile> part_;
  Sha256 hasher_;                    // over every byte of the partial file once it covers it
  bool hasher_covers_part_ = false;  // false until an earlier run's bytes have been hashed
  std::string prefix_;               // first bytes of the file, for the GGUF magic check
  // Per request:
  uint64_t offset_ = 0;  // where the request started (the partial file's size then)
  std::optional<uint64_t> total_bytes_;
  bool complete_ = false;       // a 416 said the partial file is already whole
  bool head_received_ = false;  // the server answered (rather than could not be reached)
  std::string restart_reason_;  // set when the partial file was emptied mid-request
  std::exception_ptr pending_;  // thrown inside a callback, rethrown after `fetch`
  // From the last response:
  std::optional<std::string> server_sha256_;
  std::optional<uint64_t> linked_size_bytes_;
  DownloadResult result_;
};

}  // namespace

DownloadResult download_model(const DownloadRequest& request, const DownloadObserver& observer) {
  return Downloader(request, observer).run();
}

}  // namespace capibara::download
