// `capibara run`: generate from a prompt (or an interactive prompt loop) in the terminal,
// streaming text as it is produced. Ctrl-C stops the current generation, not the program.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "core/error.hpp"
#include "engine/chat_prompt.hpp"
#include "engine/generator.hpp"
#include "kernels/kernel_table.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara::cli {
namespace {

// Set by the SIGINT handler; a signal handler can only talk through a lock-free atomic.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_sigint(int) { g_interrupted.store(true, std::memory_order_relaxed); }

// Installs the handler without SA_RESTART, so a Ctrl-C at the interactive prompt also
// interrupts the blocking read and ends the loop. Restores the previous handler on exit.
class SigintGuard {
 public:
  SigintGuard() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, &previous_);
  }
  ~SigintGuard() { sigaction(SIGINT, &previous_, nullptr); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  struct sigaction previous_ {};
};

struct RunOptions {
  ModelFlags model;
  std::string prompt;
  bool has_prompt = false;
  int32_t n_predict = 256;
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool no_bos = false;
  bool ignore_eos = false;
  std::string system_prompt;
  std::optional<std::string> chat_template_file;
};

void print_speed(const GenerationResult& r) {
  auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  fmt::print(stderr,
             "\n[prompt: {} tokens in {:.3f} s, {:.1f} tok/s | generation: {} tokens in "
             "{:.3f} s, {:.1f} tok/s | {}]\n",
             r.n_prompt_tokens, r.prompt_seconds, rate(r.n_prompt_tokens, r.prompt_seconds),
             r.tokens.size(), r.generation_seconds,
             rate(static_cast<int64_t>(r.tokens.size()), r.generation_seconds),
             finish_reason_name(r.finish_reason));
}

int chat(const RunOptions& o, const Model& model, const Tokenizer& tokenizer, Generator& generator,
         GenerationRequest& request);

int run(const RunOptions& o) {
  const auto model = Model::load(o.model.model_path, o.model.model_options());
  const Tokenizer tokenizer = Tokenizer::from_gguf(model->file());
  Generator generator(*model, tokenizer, o.model.kv());

  GenerationRequest request;
  request.max_tokens = o.n_predict;
  request.stop = o.stop;
  request.ignore_eos = o.ignore_eos;
  SamplingParams& s = request.sampling;
  s.temperature = o.temperature;
  s.top_k = o.top_k;
  s.top_p = o.top_p;
  s.min_p = o.min_p;
  s.repetition_penalty = o.repeat_penalty;
  s.penalty_last_n = o.repeat_last_n;
  s.presence_penalty = o.presence_penalty;
  s.frequency_penalty = o.frequency_penalty;
  s.seed = o.seed >= 0 ? static_cast<uint64_t>(o.seed) : std::random_device{}();

  SigintGuard guard;
  auto generate = [&](const std::string& prompt) {
    request.prompt = tokenizer.encode(prompt, !o.no_bos, false);
    g_interrupted.store(false);
    const GenerationResult r = generator.generate(
        request,
        [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
        },
        &g_interrupted);
    print_speed(r);
    request.sampling.seed += 1;  // the next prompt of a session draws fresh randomness
  };

  if (o.has_prompt) {
    generate(o.prompt);
    return 0;
  }
  return chat(o, *model, tokenizer, generator, request);
}

// The interactive chat: the conversation so far is rendered with the model's chat template
// every turn, so the model sees exactly what it was trained on.
int chat(const RunOptions& o, const Model& model, const Tokenizer& tokenizer, Generator& generator,
         GenerationRequest& request) {
  std::string source;
  std::string source_name;
  if (o.chat_template_file) {
    std::ifstream in(*o.chat_template_file, std::ios::binary);
    if (!in) throw SystemError("cannot read chat template file '" + *o.chat_template_file + "'");
    source.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    source_name = *o.chat_template_file;
  } else if (auto t = model.file().get_string("tokenizer.chat_template")) {
    source = std::string(*t);
    source_name = "the model's";
  } else {
    source = std::string(kFallbackChatTemplate);
    source_name = std::string(kFallbackChatTemplateName);
  }
  const auto tmpl = chat::ChatTemplate::parse(source);
  chat::ChatTemplateOptions opts;
  if (tokenizer.bos_id() >= 0) opts.bos_token = tokenizer.token_text(tokenizer.bos_id());
  if (tokenizer.eos_id() >= 0) opts.eos_token = tokenizer.token_text(tokenizer.eos_id());

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!o.system_prompt.empty()) {
    messages.push_back({{"role", "system"}, {"content", o.system_prompt}});
  }
  fmt::print(stderr,
             "capibara: chatting with {} ({} layers, {} kernels, chat template: {}).\n"
             "Ctrl-C stops an answer; Ctrl-D or Ctrl-C at the prompt quits.\n",
             o.model.model_path, model.config().n_layer,
             kernels::isa_name(kernels::active_kernels().isa), source_name);
  std::string line;
  while (true) {
    fmt::print(stderr, "> ");
    g_interrupted.store(false);
    if (!std::getline(std::cin, line) || g_interrupted.load()) break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    ChatPrompt prompt;
    try {
      prompt = build_chat_prompt(tmpl, tokenizer, messages, opts);
    } catch (const chat::TemplateError& e) {
      fmt::print(stderr, "capibara: the chat template refused the conversation: {}\n", e.what());
      messages.erase(messages.size() - 1);
      continue;
    }
    request.prompt = std::move(prompt.tokens);
    g_interrupted.store(false);
    const GenerationResult r = generator.generate(
        request,
        [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
        },
        &g_interrupted);
    print_speed(r);
    messages.push_back({{"role", "assistant"}, {"content", r.text}});
    request.sampling.seed += 1;
  }
  fmt::print(stderr, "\n");
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, CommandAction& action) {
  auto opts = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "run", "Generate a continuation of a prompt (-p), or chat with the model (no -p)");
  opts->model.add_to(*cmd, "f16");
  cmd->add_option("-p,--prompt", opts->prompt,
                  "Prompt to continue, as it is (without it: an interactive chat)");
  cmd->add_option("-n,--n-predict", opts->n_predict, "Tokens to generate at most")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--temp", opts->temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", opts->top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", opts->top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", opts->min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", opts->repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", opts->repeat_last_n, "Tokens the penalties look back")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", opts->presence_penalty, "OpenAI presence penalty");
  cmd->add_option("--frequency-penalty", opts->frequency_penalty, "OpenAI frequency penalty");
  cmd->add_option("-s,--seed", opts->seed, "Random seed (-1: random)")->capture_default_str();
  cmd->add_option("--stop", opts->stop, "Stop string (repeatable); never printed");
  cmd->add_flag("--no-bos", opts->no_bos, "Do not prepend the BOS token");
  cmd->add_flag("--ignore-eos", opts->ignore_eos, "Keep generating after end-of-text tokens");
  cmd->add_option("--system", opts->system_prompt, "System prompt of the interactive chat");
  cmd->add_option("--chat-template-file", opts->chat_template_file,
                  "Jinja chat template overriding the model's (interactive chat)")
      ->check(CLI::ExistingFile);
  cmd->callback([opts, cmd, &action] {
    opts->has_prompt = cmd->count("--prompt") > 0;
    action = [opts] { return run(*opts); };
  });
}

}  // namespace capibara::cli
