// The partial-download file: appends, size, head, truncation and the lock between processes.
#include "download/part_file.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace capibara::download {
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PartFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("part_file_test_" + std::to_string(::getpid()) + ".part");
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST_F(PartFileTest, AppendsAfterExistingBytes) {
  std::ofstream(path_, std::ios::binary) << "GGUF";
  {
    PartFile part(path_);
    EXPECT_EQ(part.size_bytes(), 4u);
    part.append("abc", 3);
    EXPECT_EQ(part.size_bytes(), 7u);
    const std::string big(3 << 20, 'x');  // larger than the buffer
    part.append(big.data(), big.size());
    EXPECT_EQ(part.size_bytes(), 7u + big.size());
    EXPECT_EQ(part.read_head(6), "GGUFab");
  }
  const std::string content = slurp(path_);
  EXPECT_EQ(content.size(), 7u + (3 << 20));
  EXPECT_EQ(content.substr(0, 7), "GGUFabc");
}

TEST_F(PartFileTest, TruncateStartsOver) {
  PartFile part(path_);
  part.append("hello", 5);
  part.flush();
  part.truncate();
  EXPECT_EQ(part.size_bytes(), 0u);
  part.append("GGUF", 4);
  part.sync();
  EXPECT_EQ(slurp(path_), "GGUF");
}

TEST_F(PartFileTest, SecondWriterIsRefused) {
  PartFile first(path_);
  try {
    PartFile second(path_);
    FAIL() << "expected SystemError";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("another download"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace capibara::download
