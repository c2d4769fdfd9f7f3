// Finds the shared test data and the binary under test from the environment.
#include "support/shared_data.hpp"

#include <cstdlib>

namespace capibara::testing {

std::optional<std::filesystem::path> shared_dir() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("CAPIBARA_SHARED"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
    dir = CAPIBARA_DEFAULT_SHARED_DIR;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir / "models", ec)) return std::nullopt;
  return std::filesystem::weakly_canonical(dir, ec);
}

std::optional<std::filesystem::path> capibara_binary() {
  const char* env = std::getenv("CAPIBARA_BIN");
  if (env == nullptr || *env == '\0') return std::nullopt;
  return std::filesystem::path(env);
}

}  // namespace capibara::testing
