// `capibara inspect FILE.gguf [--json]`: what a GGUF file holds, for people and for scripts.
//
// Sections, in both outputs: the file, the architecture's hyperparameters (`<arch>.*` keys), a
// tokenizer summary, the chat template, every other metadata key (long arrays summarized), the
// tensor table and totals. Strings from the file are escaped, so a hostile file cannot write
// terminal control sequences, and invalid UTF-8 is replaced in the JSON.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "gguf/gguf_file.hpp"
#include "model/architecture.hpp"

namespace capibara::cli {
namespace {

using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;
using Json = nlohmann::ordered_json;

// Whether capibara can run a file of this architecture (the model layer's registry).
std::optional<bool> is_architecture_supported(std::string_view architecture) {
  return is_supported_architecture(architecture);
}

// Tokenizer keys shown in the tokenizer section, in display order (wire names).
constexpr std::string_view kTokenizerModel = "tokenizer.ggml.model";
constexpr std::string_view kTokenizerPre = "tokenizer.ggml.pre";
constexpr std::string_view kTokenizerTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kTokenizerMerges = "tokenizer.ggml.merges";
constexpr std::string_view kChatTemplate = "tokenizer.chat_template";
struct TokenizerScalar {
  std::string_view key;    // GGUF key
  std::string_view label;  // JSON field and human label
};
constexpr TokenizerScalar kTokenizerScalars[] = {
    {"tokenizer.ggml.bos_token_id", "bos_token_id"},
    {"tokenizer.ggml.eos_token_id", "eos_token_id"},
    {"tokenizer.ggml.unknown_token_id", "unknown_token_id"},
    {"tokenizer.ggml.padding_token_id", "padding_token_id"},
    {"tokenizer.ggml.add_bos_token", "add_bos_token"},
    {"tokenizer.ggml.add_eos_token", "add_eos_token"},
};
constexpr size_t kJsonArrayLimit = 16;   // longer arrays become {"array_length", "first"}
constexpr size_t kJsonArrayPreview = 8;  // items kept in such a summary
constexpr size_t kTextArrayPreview = 4;  // items shown in the human output
constexpr size_t kTextStringLimit = 60;  // bytes of a string shown in the human output

// Keys that the dedicated sections show; everything else goes to "other metadata".
bool shown_in_a_section(std::string_view key, std::string_view arch_prefix) {
  if (key == "general.architecture" || key == "general.name" || key == kTokenizerModel ||
      key == kTokenizerPre || key == kTokenizerTokens || key == kTokenizerMerges ||
      key == kChatTemplate) {
    return true;
  }
  if (!arch_prefix.empty() && key.starts_with(arch_prefix)) return true;
  return std::any_of(std::begin(kTokenizerScalars), std::end(kTokenizerScalars),
                     [&](const TokenizerScalar& s) { return s.key == key; });
}

// `s` with control characters, quotes and backslashes escaped; cut at `limit` bytes (on a
// UTF-8 boundary) with the full length noted.
std::string escape(std::string_view s, size_t limit = std::string_view::npos) {
  size_t cut = std::min(limit, s.size());
  while (cut > 0 && cut < s.size() && (static_cast<uint8_t>(s[cut]) & 0xc0) == 0x80) --cut;
  std::string out;
  for (char c : s.substr(0, cut)) {
    const auto u = static_cast<uint8_t>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (cut < s.size()) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

// The float a float32 value held, printed as its shortest round-trip form (1e-05, not
// 9.999999747378752e-06).
std::string float32_text(double d) { return fmt::format("{}", static_cast<float>(d)); }

std::string value_text(const Value& v) {
  const auto& s = v.storage();
  switch (v.type()) {
    case ValueType::kFloat32:
      return float32_text(std::get<double>(s));
    case ValueType::kFloat64:
      return fmt::format("{}", std::get<double>(s));
    case ValueType::kBool:
      return std::get<bool>(s) ? "true" : "false";
    case ValueType::kString:
      return "\"" + escape(std::get<std::string>(s), kTextStringLimit) + "\"";
    case ValueType::kArray: {
      const auto& items = std::get<gguf::Array>(s).items;
      const size_t shown = std::min(items.size(), kTextArrayPreview);
      std::string out = items.size() > shown ? fmt::format("[{} items: ", items.size()) : "[";
      for (size_t i = 0; i < shown; ++i) out += (i > 0 ? ", " : "") + value_text(items[i]);
      return out + (items.size() > shown ? ", ...]" : "]");
    }
    default:
      if (const auto* u = std::get_if<uint64_t>(&s)) return fmt::format("{}", *u);
      return fmt::format("{}", std::get<int64_t>(s));
  }
}

Json value_json(const Value& v) {
  const auto& s = v.storage();
  switch (v.type()) {
    case ValueType::kFloat32:
      return std::strtod(float32_text(std::get<double>(s)).c_str(), nullptr);
    case ValueType::kFloat64:
      return std::get<double>(s);
    case ValueType::kBool:
      return std::get<bool>(s);
    case ValueType::kString:
      return std::get<std::string>(s);
    case ValueType::kArray: {
      const auto& array = std::get<gguf::Array>(s);
      const bool summarize = array.items.size() > kJsonArrayLimit;
      Json items = Json::array();
      const size_t shown = summarize ? kJsonArrayPreview : array.items.size();
      for (size_t i = 0; i < shown; ++i) items.push_back(value_json(array.items[i]));
      if (!summarize) return items;
      return Json{{"array_length", array.items.size()},
                  {"element_type", gguf::value_type_name(array.element_type)},
                  {"first", std::move(items)}};
    }
    default:
      if (const auto* u = std::get_if<uint64_t>(&s)) return *u;
      return std::get<int64_t>(s);
  }
}

std::string human_bytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n) / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, units[u]);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Everything both outputs show, gathered once.
struct Summary {
  std::string architecture;
  std::string arch_prefix;  // "llama." or "" without an architecture
  std::vector<const gguf::MetadataEntry*> hyperparameters;
  std::vector<const gguf::MetadataEntry*> others;
  std::optional<size_t> vocab_size;
  std::optional<size_t> merges;
  std::optional<size_t> chat_template_bytes;
  uint64_t total_bytes = 0;
  uint64_t total_elements = 0;
};

Summary summarize(const GgufFile& f) {
  Summary s;
  s.architecture = f.architecture();
  if (!s.architecture.empty()) s.arch_prefix = s.architecture + ".";
  for (const auto& entry : f.metadata()) {
    if (!s.arch_prefix.empty() && entry.key.starts_with(s.arch_prefix)) {
      s.hyperparameters.push_back(&entry);
    } else if (!shown_in_a_section(entry.key, s.arch_prefix)) {
      s.others.push_back(&entry);
    }
  }
  if (const auto* tokens = f.find(kTokenizerTokens); tokens && tokens->as_array()) {
    s.vocab_size = tokens->as_array()->items.size();
  }
  if (const auto* merges = f.find(kTokenizerMerges); merges && merges->as_array()) {
    s.merges = merges->as_array()->items.size();
  }
  if (const auto* tmpl = f.find(kChatTemplate); tmpl && tmpl->as_string()) {
    s.chat_template_bytes = tmpl->as_string()->size();
  }
  for (const auto& t : f.tensors()) {
    s.total_bytes += t.n_bytes;
    s.total_elements += static_cast<uint64_t>(t.n_elements());
  }
  return s;
}

double bits_per_weight(const Summary& s) {
  return s.total_elements == 0
             ? 0.0
             : static_cast<double>(s.total_bytes) * 8.0 / static_cast<double>(s.total_elements);
}

std::string optional_value_text(const GgufFile& f, std::string_view key) {
  const Value* v = f.find(key);
  return v == nullptr ? "(not set)" : value_text(*v);
}

void print_text(const GgufFile& f, const Summary& s) {
  fmt::print("file:          {}\n", escape(f.display_name()));
  fmt::print("GGUF version:  {}\n", f.version());
  fmt::print("size:          {} bytes ({})\n", f.file_size(), human_bytes(f.file_size()));
  fmt::print("alignment:     {} (tensor data from byte {})\n", f.alignment(), f.data_offset());
  fmt::print("architecture:  {}\n", s.architecture.empty() ? "(not set)" : escape(s.architecture));
  if (const auto supported = is_architecture_supported(s.architecture)) {
    fmt::print("supported:     {}\n", *supported ? "yes" : "no");
  }
  fmt::print("name:          {}\n", optional_value_text(f, "general.name"));

  size_t width = 24;
  for (const auto* e : s.hyperparameters) width = std::max(width, e->key.size() + 2);
  for (const auto* e : s.others) width = std::max(width, e->key.size() + 2);
  width = std::min<size_t>(width, 60);

  fmt::print("\nhyperparameters ({}*):\n", escape(s.arch_prefix));
  if (s.hyperparameters.empty()) fmt::print("  (none)\n");
  for (const auto* e : s.hyperparameters) {
    fmt::print("  {:<{}}{}\n", escape(e->key.substr(s.arch_prefix.size())), width,
               value_text(e->value));
  }

  fmt::print("\ntokenizer:\n");
  fmt::print("  {:<{}}{}\n", "model", width, optional_value_text(f, kTokenizerModel));
  fmt::print("  {:<{}}{}\n", "pre", width, optional_value_text(f, kTokenizerPre));
  fmt::print("  {:<{}}{}\n", "vocab_size", width,
             s.vocab_size ? fmt::format("{}", *s.vocab_size) : "(no tokens)");
  for (const auto& scalar : kTokenizerScalars) {
    fmt::print("  {:<{}}{}\n", scalar.label, width, optional_value_text(f, scalar.key));
  }
  fmt::print("  {:<{}}{}\n", "merges", width, s.merges ? fmt::format("{}", *s.merges) : "(none)");
  fmt::print(
      "\nchat template: {}\n",
      s.chat_template_bytes ? fmt::format("present ({} bytes)", *s.chat_template_bytes) : "none");

  fmt::print("\nother metadata ({} keys):\n", s.others.size());
  for (const auto* e : s.others) {
    fmt::print("  {:<{}}{}\n", escape(e->key), width, value_text(e->value));
  }

  size_t name_width = 4;
  size_t shape_width = 5;
  for (const auto& t : f.tensors()) {
    name_width = std::max(name_width, escape(t.name).size());
    shape_width = std::max(shape_width, shape_text(t.shape).size());
  }
  fmt::print("\ntensors ({}):\n", f.tensors().size());
  fmt::print("  {:<{}}  {:<6}  {:<{}}  {:>12}\n", "name", name_width, "type", "shape", shape_width,
             "bytes");
  for (const auto& t : f.tensors()) {
    fmt::print("  {:<{}}  {:<6}  {:<{}}  {:>12}\n", escape(t.name), name_width,
               ggml_type_name(t.type), shape_text(t.shape), shape_width, t.n_bytes);
  }
  fmt::print("\ntotal: {} tensors, {} weights, {} bytes ({}), {:.2f} bits per weight\n",
             f.tensors().size(), s.total_elements, s.total_bytes, human_bytes(s.total_bytes),
             bits_per_weight(s));
}

Json optional_json(const GgufFile& f, std::string_view key) {
  const Value* v = f.find(key);
  return v == nullptr ? Json(nullptr) : value_json(*v);
}

Json to_json(const GgufFile& f, const Summary& s) {
  Json j;
  j["file"] = f.display_name();
  j["gguf_version"] = f.version();
  j["file_size_bytes"] = f.file_size();
  j["alignment"] = f.alignment();
  j["data_offset_bytes"] = f.data_offset();
  j["architecture"] = s.architecture.empty() ? Json(nullptr) : Json(s.architecture);
  const auto supported = is_architecture_supported(s.architecture);
  j["supported"] = supported ? Json(*supported) : Json(nullptr);
  j["name"] = optional_json(f, "general.name");

  Json hyper = Json::object();
  for (const auto* e : s.hyperparameters) {
    hyper[e->key.substr(s.arch_prefix.size())] = value_json(e->value);
  }
  j["hyperparameters"] = std::move(hyper);

  Json tok = Json::object();
  tok["model"] = optional_json(f, kTokenizerModel);
  tok["pre"] = optional_json(f, kTokenizerPre);
  tok["vocab_size"] = s.vocab_size ? Json(*s.vocab_size) : Json(nullptr);
  for (const auto& scalar : kTokenizerScalars) {
    tok[std::string(scalar.label)] = optional_json(f, scalar.key);
  }
  tok["merges_count"] = s.merges ? Json(*s.merges) : Json(nullptr);
  j["tokenizer"] = std::move(tok);
  j["chat_template"] = {{"present", s.chat_template_bytes.has_value()},
                        {"length_bytes", s.chat_template_bytes.value_or(0)}};

  Json others = Json::object();
  for (const auto* e : s.others) others[e->key] = value_json(e->value);
  j["metadata"] = std::move(others);

  Json tensors = Json::array();
  for (const auto& t : f.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"type", ggml_type_name(t.type)},
                       {"shape", t.shape},
                       {"bytes", t.n_bytes},
                       {"offset", t.offset}});
  }
  j["tensors"] = std::move(tensors);
  j["totals"] = {{"tensor_count", f.tensors().size()},
                 {"total_bytes", s.total_bytes},
                 {"n_elements", s.total_elements},
                 {"bits_per_weight", bits_per_weight(s)}};
  return j;
}

struct InspectOptions {
  std::string path;
  bool json = false;
};

int run_inspect(const InspectOptions& options) {
  const GgufFile f = GgufFile::open(options.path);
  const Summary s = summarize(f);
  if (options.json) {
    fmt::print("{}\n", to_json(f, s).dump(2, ' ', false, Json::error_handler_t::replace));
  } else {
    print_text(f, s);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand(
      "inspect",
      "Show what a GGUF file holds: architecture, hyperparameters, tokenizer, chat template, "
      "metadata and tensors (validating the whole file on the way)");
  cmd->add_option("file", options->path, "GGUF file to inspect")->required();
  cmd->add_flag("--json", options->json,
                "Print one JSON object instead of text (arrays longer than 16 items are "
                "summarized as {array_length, element_type, first})");
  cmd->callback([&action, options] { action = [options] { return run_inspect(*options); }; });
}

}  // namespace capibara::cli
