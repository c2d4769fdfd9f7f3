// Command-line options shared by the commands that load a model (run, golden, later bench).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "model/kv_cache.hpp"
#include "model/model.hpp"

namespace capibara::cli {

struct ModelFlags {
  std::string model_path;
  int threads = 0;
  int64_t ctx = 0;
  int64_t batch = 512;
  std::string kv_type = "f16";

  void add_to(CLI::App& cmd, const std::string& default_kv_type);
  ModelOptions model_options() const;
  KvType kv() const;  // InvalidArgumentError for an unknown name
};

}  // namespace capibara::cli
