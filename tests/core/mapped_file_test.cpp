// MappedFile: maps whole files read-only, handles empty files, reports OS errors with the path.
#include "core/mapped_file.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace capibara {
namespace {

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(MappedFileTest, MapsContent) {
  const auto path = temp_file("mapped_file_test.bin", std::string("hello\0world", 11));
  MappedFile m(path);
  ASSERT_EQ(m.size(), 11u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.bytes().data()), m.size()),
            std::string("hello\0world", 11));
  EXPECT_EQ(m.path(), path);
  m.advise(MappedFile::Access::kWillNeed);
  m.advise(MappedFile::Access::kRandom, 5, 100);
  m.advise(MappedFile::Access::kSequential, 1000);  // past the end: ignored
  std::filesystem::remove(path);
}

TEST(MappedFileTest, EmptyFile) {
  const auto path = temp_file("mapped_file_empty.bin", "");
  const MappedFile m(path);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_TRUE(m.bytes().empty());
  m.advise(MappedFile::Access::kWillNeed);
  std::filesystem::remove(path);
}

TEST(MappedFileTest, MoveTransfersOwnership) {
  const auto path = temp_file("mapped_file_move.bin", "abc");
  MappedFile a(path);
  const uint8_t* data = a.bytes().data();
  MappedFile b(std::move(a));
  EXPECT_EQ(b.bytes().data(), data);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_TRUE(a.bytes().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  const auto other_path = temp_file("mapped_file_move2.bin", "defg");
  MappedFile c(other_path);
  c = std::move(b);
  EXPECT_EQ(c.bytes().data(), data);
  EXPECT_EQ(c.bytes()[2], 'c');
  std::filesystem::remove(path);
  std::filesystem::remove(other_path);
}

TEST(MappedFileTest, ErrorsNameThePathAndReason) {
  try {
    MappedFile m("/nonexistent/capibara/file.bin");
    FAIL() << "no error";
  } catch (const SystemError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'/nonexistent/capibara/file.bin'"), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  try {
    MappedFile m(::testing::TempDir());
    FAIL() << "no error";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace capibara
