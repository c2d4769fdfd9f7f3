// `capibara template`: renders a conversation with a model's (or a file's) chat template and
// prints exactly the prompt text, for checking what a model will see.
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara::cli {
namespace {

struct TemplateOptions {
  std::string model_path;
  std::string template_path;
  std::string messages;
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> date;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SystemError(fmt::format("cannot read '{}'", path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int render(const TemplateOptions& o) {
  std::string source;
  chat::ChatTemplateOptions opts;
  if (!o.model_path.empty()) {
    const auto file = gguf::GgufFile::open(o.model_path);
    const auto t = file.get_string("tokenizer.chat_template");
    if (!t) throw InvalidArgumentError(o.model_path + " has no chat template");
    source = std::string(*t);
    // The model's own BOS / EOS texts, as the server passes them.
    const auto* tokens = file.get_array("tokenizer.ggml.tokens");
    auto token_text = [&](const char* key) -> std::string {
      const auto id = file.get_int(key);
      if (!id || tokens == nullptr || *id < 0 || static_cast<size_t>(*id) >= tokens->items.size()) {
        return {};
      }
      const std::string* s = tokens->items[static_cast<size_t>(*id)].as_string();
      return s ? *s : std::string();
    };
    opts.bos_token = token_text("tokenizer.ggml.bos_token_id");
    opts.eos_token = token_text("tokenizer.ggml.eos_token_id");
  } else {
    source = read_file(o.template_path);
  }
  if (o.bos_token) opts.bos_token = *o.bos_token;
  if (o.eos_token) opts.eos_token = *o.eos_token;
  opts.add_generation_prompt = o.add_generation_prompt;
  opts.strftime_date = o.date;

  const std::string text =
      o.messages.starts_with("@") ? read_file(o.messages.substr(1)) : o.messages;
  nlohmann::ordered_json messages;
  try {
    messages = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgumentError(fmt::format("--messages is not valid JSON: {}", e.what()));
  }
  if (!messages.is_array()) throw InvalidArgumentError("--messages must be a JSON array");
  const std::string prompt = chat::ChatTemplate::parse(source).render(messages, opts);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

}  // namespace

void add_template_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<TemplateOptions>();
  auto* cmd = app.add_subcommand(
      "template", "Render a conversation with a chat template and print the exact prompt");
  auto* model = cmd->add_option("-m,--model", o->model_path, "GGUF file whose template to use")
                    ->check(CLI::ExistingFile);
  auto* file = cmd->add_option("--template", o->template_path, "Jinja template file")
                   ->check(CLI::ExistingFile);
  model->excludes(file);
  cmd->add_option("--messages", o->messages,
                  "Messages as a JSON array ([{\"role\":\"user\",\"content\":\"hi\"}]) or @FILE")
      ->required();
  cmd->add_flag("--add-generation-prompt", o->add_generation_prompt,
                "End with the assistant's turn opening");
  cmd->add_option("--bos-token", o->bos_token, "Text of the BOS token (default: the model's)");
  cmd->add_option("--eos-token", o->eos_token, "Text of the EOS token (default: the model's)");
  cmd->add_option("--date", o->date, "Fixed date (YYYY-MM-DD) for strftime_now");
  cmd->callback([o, &action] {
    if (o->model_path.empty() && o->template_path.empty()) {
      throw CLI::ValidationError("template", "one of --model or --template is required");
    }
    action = [o] { return render(*o); };
  });
}

}  // namespace capibara::cli
