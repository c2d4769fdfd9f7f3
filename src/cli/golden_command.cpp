// `capibara golden`: teacher-forced comparison of a model against llama.cpp's reference
// log-probabilities; exits non-zero when any case is out of tolerance.
#include <memory>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "engine/golden_eval.hpp"
#include "model/model.hpp"

namespace capibara::cli {
namespace {

struct GoldenOptions {
  ModelFlags model;
  std::string golden_path;
  bool json = false;
};

int run(const GoldenOptions& o) {
  const GoldenFile golden = read_golden_file(o.golden_path);
  const auto model = Model::load(o.model.model_path, o.model.model_options());
  const KvType kv = o.model.kv();
  const GoldenTolerance tol = golden_tolerance(*model, kv);
  const auto results = evaluate_golden(*model, golden, kv, tol);

  bool all_pass = true;
  for (const auto& r : results) all_pass = all_pass && r.pass;
  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model.model_path;
    j["kv_type"] = kv_type_name(kv);
    j["tolerance"] = {{"max_abs_logprob_diff", tol.max_abs_logprob_diff},
                      {"description", tol.description}};
    j["cases"] = nlohmann::json::array();
    for (const auto& r : results) {
      j["cases"].push_back({{"prompt", r.prompt},
                            {"steps", r.steps},
                            {"max_abs_logprob_diff", r.max_abs_logprob_diff},
                            {"top1_agree", r.top1_agree},
                            {"pass", r.pass}});
    }
    j["pass"] = all_pass;
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("model {}  KV {}  tolerance: {}\n", o.model.model_path, kv_type_name(kv),
               tol.description);
    for (const auto& r : results) {
      fmt::print("{:<4} max|dlogp| {:.3e}  top-1 {:>3}/{:<3}  {}\n", r.pass ? "ok" : "FAIL",
                 r.max_abs_logprob_diff, r.top1_agree, r.steps, r.prompt);
    }
    fmt::print("{}\n", all_pass ? "all cases within tolerance" : "OUT OF TOLERANCE");
  }
  return all_pass ? 0 : 1;
}

}  // namespace

void add_golden_command(CLI::App& app, CommandAction& action) {
  auto opts = std::make_shared<GoldenOptions>();
  auto* cmd = app.add_subcommand(
      "golden", "Compare a model's log-probabilities with a reference (teacher forcing)");
  opts->model.add_to(*cmd, "f32");
  cmd->add_option("-g,--golden", opts->golden_path, "Golden JSON file (../shared/golden/*.json)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", opts->json, "Print the results as JSON");
  cmd->callback([opts, &action] { action = [opts] { return run(*opts); }; });
}

}  // namespace capibara::cli
