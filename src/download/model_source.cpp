// Parsing of download sources: URLs, redirects and Hugging Face references.
#include "download/model_source.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

#include <fmt/core.h>

#include "core/error.hpp"

namespace capibara::download {
namespace {

constexpr std::string_view kHfScheme = "hf://";
constexpr std::string_view kSourceForms =
    "use an http:// or https:// URL, a Hugging Face reference org/repo/file.gguf[@revision], "
    "or hf://org/repo/file.gguf[@revision]";

bool is_unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// Characters that may never appear raw in a request target; everything else (including '%',
// so already-encoded URLs pass unchanged) is kept.
bool must_escape_in_target(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
         c == '`' || c == '{' || c == '|' || c == '}';
}

std::string escape_target(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (must_escape_in_target(c)) {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// Hub organization and repository names: letters, digits, '-', '_', '.'.
bool is_hub_name(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

std::string path_of(const Url& url) { return url.target.substr(0, url.target.find('?')); }

// A huggingface.co page URL (`/org/repo/blob/rev/file`) serves HTML; the file itself is at
// `/resolve/`. Users copy the page URL from the browser often enough to fix it silently.
void rewrite_blob_url(Url& url) {
  const std::string path = path_of(url);
  const auto parts = split(path, '/');  // "", org, repo, "blob", rev, file...
  if (parts.size() >= 6 && parts[3] == "blob") {
    url.target.replace(parts[1].size() + parts[2].size() + 3, 4, "resolve");
  }
}

}  // namespace

std::string percent_encode(std::string_view s, bool keep_slash) {
  std::string out;
  for (char c : s) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned value = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16).ptr == s.data() + i + 3) {
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Url::origin() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", scheme, ipv6 ? "[" : "", host, ipv6 ? "]" : "", port);
}

std::string Url::str(bool without_query) const {
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string out = fmt::format("{}://{}{}{}", scheme, ipv6 ? "[" : "", host, ipv6 ? "]" : "");
  if (!default_port) out += fmt::format(":{}", port);
  return out + (without_query ? path_of(*this) : target);
}

Url parse_url(std::string_view text) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    throw InvalidArgumentError(fmt::format("'{}' is not an absolute URL", text));
  }
  Url url;
  url.scheme = lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    throw InvalidArgumentError(
        fmt::format("unsupported URL scheme '{}' in '{}': {}", url.scheme, text, kSourceForms));
  }
  std::string_view rest = text.substr(sep + 3);
  rest = rest.substr(0, rest.find('#'));  // fragments never reach the server
  const size_t authority_end = std::min(rest.find('/'), rest.find('?'));
  std::string_view authority = rest.substr(0, authority_end);
  const std::string_view target =
      authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    throw InvalidArgumentError(fmt::format(
        "credentials inside the URL '{}' are not supported: pass a token instead", text));
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      throw InvalidArgumentError(fmt::format("unterminated IPv6 address in URL '{}'", text));
    }
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      throw InvalidArgumentError(fmt::format("malformed host in URL '{}'", text));
    }
    port_text = after.empty() ? "" : after.substr(1);
  } else {
    const size_t colon = authority.find(':');
    url.host = lower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) throw InvalidArgumentError(fmt::format("no host in URL '{}'", text));
  url.port = url.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    int port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      throw InvalidArgumentError(fmt::format("invalid port '{}' in URL '{}'", port_text, text));
    }
    url.port = port;
  }
  url.target = target.empty() ? "/" : escape_target(target);
  if (url.target.front() == '?') url.target.insert(0, "/");
  return url;
}

Url resolve_location(const Url& base, std::string_view location) {
  while (!location.empty() && std::isspace(static_cast<unsigned char>(location.front()))) {
    location.remove_prefix(1);
  }
  while (!location.empty() && std::isspace(static_cast<unsigned char>(location.back()))) {
    location.remove_suffix(1);
  }
  const size_t scheme_end = location.find("://");
  if (scheme_end != std::string_view::npos &&
      location.substr(0, scheme_end).find('/') == std::string_view::npos) {
    return parse_url(location);
  }
  if (location.starts_with("//")) return parse_url(base.scheme + ":" + std::string(location));
  Url url = base;
  if (location.starts_with('/')) {
    url.target = escape_target(location);
  } else {
    const std::string path = path_of(base);
    url.target = path.substr(0, path.rfind('/') + 1) + escape_target(location);
  }
  return url;
}

std::optional<HuggingFaceRef> parse_hugging_face_ref(std::string_view text) {
  if (text.find("://") != std::string_view::npos) return std::nullopt;
  HuggingFaceRef ref;
  ref.revision = "main";
  if (const size_t at = text.rfind('@'); at != std::string_view::npos) {
    ref.revision = std::string(text.substr(at + 1));
    text = text.substr(0, at);
    if (ref.revision.empty()) return std::nullopt;
  }
  const auto parts = split(text, '/');
  if (parts.size() < 3 || !is_hub_name(parts[0]) || !is_hub_name(parts[1])) return std::nullopt;
  for (size_t i = 2; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i] == "." || parts[i] == "..") return std::nullopt;
  }
  ref.repo_id = fmt::format("{}/{}", parts[0], parts[1]);
  ref.file_path = std::string(text.substr(ref.repo_id.size() + 1));
  return ref;
}

std::string hugging_face_resolve_url(const HuggingFaceRef& ref, std::string_view endpoint) {
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  return fmt::format("{}/{}/resolve/{}/{}", endpoint, percent_encode(ref.repo_id, true),
                     percent_encode(ref.revision, false), percent_encode(ref.file_path, true));
}

ModelSource resolve_model_source(std::string_view text, std::string_view hf_endpoint) {
  ModelSource source;
  if (text.starts_with(kHfScheme)) {
    source.hf = parse_hugging_face_ref(text.substr(kHfScheme.size()));
    if (!source.hf) {
      throw InvalidArgumentError(fmt::format(
          "'{}' is not a Hugging Face reference: expected hf://org/repo/file.gguf[@revision]",
          text));
    }
  } else if (text.find("://") != std::string_view::npos) {
    source.url = std::string(text);
  } else {
    source.hf = parse_hugging_face_ref(text);
    if (!source.hf) {
      const auto parts = split(text.substr(0, text.find('@')), '/');
      if (parts.size() == 2 && is_hub_name(parts[0]) && is_hub_name(parts[1])) {
        throw InvalidArgumentError(
            fmt::format("'{}' names a repository, not a file: add the file, as in {}/MODEL.gguf",
                        text, text.substr(0, text.find('@'))));
      }
      throw InvalidArgumentError(fmt::format(
          "'{}' is neither a URL nor a Hugging Face reference: {}", text, kSourceForms));
    }
  }
  if (source.hf) source.url = hugging_face_resolve_url(*source.hf, hf_endpoint);

  Url url = parse_url(source.url);
  const Url hub = parse_url(hf_endpoint);
  source.on_hugging_face = url.host == hub.host && url.port == hub.port;
  if (source.on_hugging_face && !source.hf) rewrite_blob_url(url);
  source.url = url.str();
  const std::string path = path_of(url);
  source.file_name = percent_decode(path.substr(path.rfind('/') + 1));
  return source;
}

}  // namespace capibara::download
