// `capibara tokenize` and `capibara detokenize`: a model's tokenizer from the command line, for
// checking prompts and comparing with llama.cpp. Only the GGUF metadata is read (no weights are
// loaded), so the vocabulary-only files of ../shared/vocab work as well as full models.
//
//   capibara tokenize -m FILE.gguf [--no-bos] [--parse-special] [--ids] TEXT
//   capibara detokenize -m FILE.gguf [--special] [--clean-spaces] IDS...
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace capibara::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string text;
  std::string text_file;
  bool no_bos = false;
  bool parse_special = false;
  bool ids_only = false;
};

struct DetokenizeOptions {
  std::string model_path;
  std::vector<std::string> ids;
  bool render_special = false;
  bool clean_spaces = false;
};

Tokenizer load_tokenizer(const std::string& path) {
  const gguf::GgufFile file = gguf::GgufFile::open(path);
  Tokenizer tokenizer = Tokenizer::from_gguf(file);
  for (const std::string& warning : tokenizer.warnings()) {
    fmt::print(stderr, "capibara: warning: {}: {}\n", file.display_name(), warning);
  }
  return tokenizer;
}

// A piece shown between quotes on one line: valid UTF-8 is kept, control characters, quotes,
// backslashes and bytes that are not UTF-8 (a character split across byte tokens) are escaped,
// so that a piece can never move the terminal's cursor.
std::string escape_piece(std::string_view piece) {
  std::string out;
  for (size_t pos = 0; pos < piece.size();) {
    const utf8::Sequence seq = utf8::classify(piece.substr(pos));
    if (seq.status != utf8::SequenceStatus::kValid) {
      for (size_t i = 0; i < seq.length; ++i) {
        out += fmt::format("\\x{:02x}", static_cast<uint8_t>(piece[pos + i]));
      }
      pos += seq.length;
      continue;
    }
    const char c = piece[pos];
    if (seq.length == 1) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\'':
          out += "\\'";
          break;
        default:
          if (static_cast<uint8_t>(c) < 0x20 || c == 0x7F) {
            out += fmt::format("\\x{:02x}", static_cast<uint8_t>(c));
          } else {
            out.push_back(c);
          }
      }
    } else if (static_cast<uint8_t>(c) == 0xC2 && static_cast<uint8_t>(piece[pos + 1]) < 0xA0) {
      out += fmt::format("\\u{:04x}", static_cast<uint8_t>(piece[pos + 1]));  // C1 controls
    } else {
      out.append(piece.substr(pos, seq.length));
    }
    pos += seq.length;
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SystemError(fmt::format("cannot open '{}' for reading", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int run_tokenize(const TokenizeOptions& o) {
  const Tokenizer tokenizer = load_tokenizer(o.model_path);
  const std::string text = o.text_file.empty() ? o.text : read_text_file(o.text_file);
  const std::vector<int32_t> ids = tokenizer.encode(text, !o.no_bos, o.parse_special);
  if (o.ids_only) {
    fmt::print("{}\n", fmt::join(ids, " "));
    return 0;
  }
  for (const int32_t id : ids) {
    fmt::print("{:>6} -> '{}'\n", id, escape_piece(tokenizer.piece(id, true)));
  }
  return 0;
}

// Ids from the arguments: each may hold several, separated by spaces or commas, and brackets
// are ignored, so that "[1, 2, 3]" (a Python list) and "1 2 3" (`tokenize --ids`) both work.
std::vector<int32_t> parse_ids(const std::vector<std::string>& args, int32_t n_vocab) {
  std::vector<int32_t> ids;
  for (const std::string& arg : args) {
    std::string token;
    const auto flush = [&] {
      if (token.empty()) return;
      size_t used = 0;
      long long value = -1;
      try {
        value = std::stoll(token, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != token.size()) {
        throw InvalidArgumentError(fmt::format("'{}' is not a token id", token));
      }
      if (value < 0 || value >= n_vocab) {
        throw InvalidArgumentError(
            fmt::format("token id {} is outside the vocabulary (0 to {})", token, n_vocab - 1));
      }
      ids.push_back(static_cast<int32_t>(value));
      token.clear();
    };
    for (const char c : arg) {
      if (c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '[' || c == ']') {
        flush();
      } else {
        token.push_back(c);
      }
    }
    flush();
  }
  return ids;
}

int run_detokenize(const DetokenizeOptions& o) {
  const Tokenizer tokenizer = load_tokenizer(o.model_path);
  const std::vector<int32_t> ids = parse_ids(o.ids, tokenizer.n_vocab());
  std::string text = tokenizer.decode(ids, o.render_special);
  if (o.clean_spaces && tokenizer.clean_spaces()) text = clean_up_spaces(text);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize", "Print the token ids of a text (reads only the tokenizer of a GGUF file)");
  cmd->add_option("-m,--model", o->model_path, "GGUF file (a model or a vocabulary-only file)")
      ->required();
  auto* text = cmd->add_option("text", o->text, "Text to tokenize");
  auto* file = cmd->add_option("-f,--file", o->text_file, "Read the text from this file instead");
  text->excludes(file);
  cmd->add_flag("--no-bos", o->no_bos,
                "Do not add the special tokens the model adds around a text (BOS, EOS, SEP)");
  cmd->add_flag("--parse-special", o->parse_special,
                "Turn the text of control tokens (\"<|im_start|>\") into those tokens");
  cmd->add_flag("--ids", o->ids_only, "Print only the ids, space-separated, on one line");
  cmd->callback([o, text, file, &action] {
    if (text->count() == 0 && file->count() == 0) {
      throw CLI::RequiredError("text (or --file)");
    }
    action = [o] { return run_tokenize(*o); };
  });
}

void add_detokenize_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<DetokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "detokenize", "Print the text of token ids (reads only the tokenizer of a GGUF file)");
  cmd->add_option("-m,--model", o->model_path, "GGUF file (a model or a vocabulary-only file)")
      ->required();
  cmd->add_option("ids", o->ids, "Token ids (\"1 2 3\", \"1,2,3\" or several arguments)")
      ->required();
  cmd->add_flag("--special", o->render_special,
                "Print control tokens (\"<s>\", \"<|im_end|>\") instead of dropping them");
  cmd->add_flag("--clean-spaces", o->clean_spaces,
                "Remove the spaces before punctuation and contractions (\" ,\" -> \",\") as "
                "llama.cpp's detokenizer does when the vocabulary asks for it");
  cmd->callback([o, &action] { action = [o] { return run_detokenize(*o); }; });
}

}  // namespace capibara::cli
