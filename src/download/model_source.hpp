// Where a model comes from: URLs and Hugging Face references, parsed into what a request needs.
//
// Accepted sources (anything else is an `InvalidArgumentError` that lists these forms):
//   http://host[:port]/path/file.gguf, https://...      as given (a huggingface.co `/blob/` page
//                                                        URL is rewritten to its `/resolve/` file)
//   org/repo/path/file.gguf[@revision]                  Hugging Face, revision `main` by default
//   hf://org/repo/path/file.gguf[@revision]             the same, explicit
// A Hugging Face reference becomes `<endpoint>/org/repo/resolve/<revision>/path/file.gguf`,
// with the revision percent-encoded (`refs/pr/1` → `refs%2Fpr%2F1`) as the Hub expects.
//
// Pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace capibara::download {

inline constexpr std::string_view kHuggingFaceEndpoint = "https://huggingface.co";

// An absolute http(s) URL split the way an HTTP client needs it.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6 literals
  int port = 0;        // explicit or the scheme's default
  std::string target;  // path and query, starting with '/', percent-encoded

  // "scheme://host:port", what `httplib::Client` takes; also the unit of trust for tokens.
  std::string origin() const;
  // The full URL; `without_query` drops "?..." (signed CDN URLs carry long signatures there).
  std::string str(bool without_query = false) const;
};

// Parses an absolute http(s) URL; throws `InvalidArgumentError` naming the problem. Characters
// that may not appear raw in a URL (spaces, non-ASCII) are percent-encoded.
Url parse_url(std::string_view text);

// The URL a redirect's `Location` header points to: absolute, scheme-relative ("//host/x"),
// absolute-path ("/x") or relative to `base`'s directory ("x").
Url resolve_location(const Url& base, std::string_view location);

struct HuggingFaceRef {
  std::string repo_id;    // "org/repo"
  std::string file_path;  // path inside the repository, "sub/dir/file.gguf"
  std::string revision;   // branch, tag or commit; "main" by default
};

// Parses "org/repo/path/file.gguf[@revision]" (without "hf://"); nullopt when `text` does not
// have that shape (fewer than three segments, empty or "."/".." segments, a scheme).
std::optional<HuggingFaceRef> parse_hugging_face_ref(std::string_view text);

// `<endpoint>/org/repo/resolve/<revision>/path`, each part percent-encoded.
std::string hugging_face_resolve_url(const HuggingFaceRef& ref,
                                     std::string_view endpoint = kHuggingFaceEndpoint);

struct ModelSource {
  std::string url;                   // what to request first
  std::string file_name;             // the local name: the last path segment, decoded
  std::optional<HuggingFaceRef> hf;  // set for Hugging Face references
  bool on_hugging_face = false;      // the URL's host is the Hub endpoint's host
};

// Resolves a command-line source. `hf_endpoint` replaces https://huggingface.co (mirrors, the
// `HF_ENDPOINT` variable, tests). Throws `InvalidArgumentError` for anything unrecognized.
ModelSource resolve_model_source(std::string_view text,
                                 std::string_view hf_endpoint = kHuggingFaceEndpoint);

// Percent-encodes everything but RFC 3986 unreserved characters (and '/' when `keep_slash`).
std::string percent_encode(std::string_view s, bool keep_slash);
// Decodes %XX sequences; malformed ones are kept literally.
std::string percent_decode(std::string_view s);

}  // namespace capibara::download
