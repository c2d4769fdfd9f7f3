// GET with hand-followed redirects over cpp-httplib (https through its OpenSSL support).
#include "download/http_fetch.hpp"

#include <httplib.h>

#include <fmt/core.h>

#include "core/error.hpp"
#include "download/download_error.hpp"
#include "download/response_headers.hpp"

namespace capibara::download {
namespace {

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::optional<std::string> header(const httplib::Response& res, const char* name) {
  if (!res.has_header(name)) return std::nullopt;
  return res.get_header_value(name);
}

std::string describe(httplib::Error error, const Url& url, const FetchRequest& request) {
  const std::string where = url.origin();
  switch (error) {
    case httplib::Error::Connection:
      return fmt::format("could not connect to {} (no route, refused or unknown host)", where);
    case httplib::Error::ConnectionTimeout:
      return fmt::format("connecting to {} timed out after {} s", where,
                         request.connect_timeout.count());
    case httplib::Error::Read:
      return fmt::format("the connection to {} broke or stayed silent for {} s while receiving",
                         where, request.read_timeout.count());
    case httplib::Error::Write:
      return fmt::format("could not send the request to {}", where);
    case httplib::Error::SSLConnection:
      return fmt::format("the TLS handshake with {} failed", where);
    case httplib::Error::SSLLoadingCerts:
      return "could not load the system's CA certificates (is ca-certificates installed?)";
    case httplib::Error::SSLServerVerification:
      return fmt::format("the TLS certificate of {} could not be verified", where);
    default:
      return fmt::format("request to {} failed ({})", where, httplib::to_string(error));
  }
}

FetchHead head_of(const httplib::Response& res, const Url& url) {
  FetchHead head;
  head.status = res.status;
  head.url = url;
  if (auto v = header(res, "Content-Length")) head.content_length_bytes = parse_byte_count(*v);
  head.content_range = header(res, "Content-Range");
  head.etag = header(res, "ETag");
  head.error_message = header(res, "X-Error-Message");
  return head;
}

}  // namespace

FetchResult fetch(const FetchRequest& request, const HeadCallback& on_head,
                  const DataCallback& on_data) {
  const std::string trusted_origin = request.url.origin();
  Url url = request.url;
  std::optional<std::string> linked_etag;
  std::optional<uint64_t> linked_size_bytes;
  for (int hop = 0;; ++hop) {
    httplib::Client client(url.origin());
    if (!client.is_valid()) {
      throw InvalidArgumentError(fmt::format("cannot make a client for '{}'", url.str(true)));
    }
    client.set_connection_timeout(request.connect_timeout);
    client.set_read_timeout(request.read_timeout);
    client.set_write_timeout(request.read_timeout);
    client.set_follow_location(false);
    client.set_url_encode(false);  // targets are already encoded (and signed, for CDNs)
    client.set_decompress(false);  // byte ranges and digests are about the stored bytes
    client.set_keep_alive(false);

    httplib::Headers headers{{"User-Agent", "capibara/" CAPIBARA_VERSION},
                             {"Accept-Encoding", "identity"}};
    if (request.range_start) {
      headers.emplace("Range", fmt::format("bytes={}-", *request.range_start));
    }
    if (!request.bearer_token.empty() && url.origin() == trusted_origin) {
      headers.emplace("Authorization", "Bearer " + request.bearer_token);
    }

    std::optional<std::string> location;
    bool redirect_without_location = false;
    bool head_delivered = false;
    bool stopped = false;
    // No exception may cross cpp-httplib's frames: the callbacks only record and return false.
    const auto on_response = [&](const httplib::Response& res) {
      if (auto v = header(res, "X-Linked-Etag")) linked_etag = std::move(v);
      if (auto v = header(res, "X-Linked-Size")) linked_size_bytes = parse_byte_count(*v);
      if (is_redirect(res.status)) {
        location = header(res, "Location");
        redirect_without_location = !location.has_value();
        return false;  // the redirect's own body is of no interest
      }
      FetchHead head = head_of(res, url);
      head.linked_etag = linked_etag;
      head.linked_size_bytes = linked_size_bytes;
      head_delivered = true;
      stopped = !on_head(head);
      return !stopped;
    };
    const auto on_body = [&](const char* data, size_t n_bytes) {
      stopped = !on_data(data, n_bytes);
      return !stopped;
    };
    const httplib::Result result = client.Get(url.target, headers, on_response, on_body);

    if (redirect_without_location) {
      throw NetworkError(fmt::format("{} redirected without a Location header", url.str(true)));
    }
    if (location) {
      if (hop >= request.max_redirects) {
        throw NetworkError(fmt::format("more than {} redirects starting from {}",
                                       request.max_redirects, request.url.str(true)));
      }
      url = resolve_location(url, *location);
      continue;
    }
    if (stopped) return {FetchStop::kByCallback, {}};
    if (result.error() != httplib::Error::Success) {
      return {FetchStop::kNetworkError, describe(result.error(), url, request)};
    }
    // cpp-httplib skips the response handler for bodiless statuses (204).
    if (!head_delivered && result) {
      FetchHead head = head_of(*result, url);
      head.linked_etag = linked_etag;
      head.linked_size_bytes = linked_size_bytes;
      if (!on_head(head)) return {FetchStop::kByCallback, {}};
    }
    return {FetchStop::kNone, {}};
  }
}

}  // namespace capibara::download
