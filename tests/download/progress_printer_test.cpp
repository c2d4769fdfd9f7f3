// Progress rendering: sizes, times, the terminal bar, log lines and the rate window.
#include "download/progress_printer.hpp"

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace capibara::download {
namespace {

DownloadProgress at(uint64_t done, std::optional<uint64_t> total, double elapsed_s) {
  DownloadProgress p;
  p.downloaded_bytes = done;
  p.total_bytes = total;
  p.elapsed_s = elapsed_s;
  return p;
}

// Everything a printer wrote to a temporary FILE*.
std::string contents(std::FILE* f) {
  std::string out;
  std::rewind(f);
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) out += static_cast<char>(c);
  return out;
}

TEST(ProgressFormat, SizesAndDurations) {
  EXPECT_EQ(format_size(0), "0.0 MB");
  EXPECT_EQ(format_size(1'185'376), "1.2 MB");
  EXPECT_EQ(format_size(4'070'000'000), "4.07 GB");
  EXPECT_EQ(format_duration(7.4), "0:07");
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3723), "1:02:03");
}

TEST(ProgressFormat, BarFitsTheTerminal) {
  const auto p = at(12'300'000, 29'000'000, 3);
  for (int width : {20, 40, 80, 200}) {
    const std::string line =
        format_bar_line("a-rather-long-model-name-Q4_K_M.gguf", p, 5.1e6, width);
    EXPECT_LT(static_cast<int>(line.size()), width) << line;
  }
  const std::string line = format_bar_line("model.gguf", p, 5.1e6, 100);
  EXPECT_NE(line.find("model.gguf  42% ["), std::string::npos) << line;
  EXPECT_NE(line.find("12.3 MB / 29.0 MB  5.1 MB/s  ETA 0:03"), std::string::npos) << line;
  EXPECT_NE(format_bar_line("m", at(5, std::nullopt, 1), std::nullopt, 80).find("-- MB/s"),
            std::string::npos);
}

TEST(ProgressFormat, LogLine) {
  EXPECT_EQ(format_log_line("model.gguf", at(12'300'000, 29'000'000, 3), 5.1e6),
            "model.gguf: 42% (12.3 MB of 29.0 MB), 5.1 MB/s, ETA 0:03");
  EXPECT_EQ(format_log_line("model.gguf", at(12'300'000, std::nullopt, 3), std::nullopt),
            "model.gguf: 12.3 MB, -- MB/s");
}

TEST(ProgressPrinter, LinesEveryFewSeconds) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressPrinter printer(f, ProgressStyle::kLines, "m.gguf");
  for (int i = 0; i <= 20; ++i) printer.update(at(i * 500'000ull, 10'000'000, i * 0.5));
  printer.notice("resuming");
  printer.finish();
  const std::string out = contents(f);
  std::fclose(f);
  // t = 0, 5 and 10 s; no carriage returns in a log.
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_NE(out.find("capibara: m.gguf: 50% (5.0 MB of 10.0 MB), 1.0 MB/s, ETA 0:05"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("capibara: resuming\n"), std::string::npos);
}

TEST(ProgressPrinter, BarRedrawsInPlaceAndEndsItsLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressPrinter printer(f, ProgressStyle::kBar, "m.gguf", 80);
  printer.update(at(0, 1000, 0));
  printer.update(at(500, 1000, 0.05));   // too soon to redraw
  printer.update(at(1000, 1000, 0.06));  // done: always drawn
  printer.finish();
  const std::string out = contents(f);
  std::fclose(f);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 3) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("100% ["), std::string::npos) << out;
}

TEST(ProgressPrinter, QuietPrintsNothing) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressPrinter printer(f, ProgressStyle::kQuiet, "m.gguf");
  printer.update(at(10, 100, 0));
  printer.notice("resuming");
  printer.finish();
  EXPECT_EQ(contents(f), "");
  std::fclose(f);
}

TEST(ProgressPrinter, RateFollowsTheRecentWindow) {
  std::FILE* sink = std::fopen("/dev/null", "w");
  ASSERT_NE(sink, nullptr);
  ProgressPrinter lines(sink, ProgressStyle::kLines, "m");
  EXPECT_FALSE(lines.rate_bytes_per_s());
  // 1 MB/s for 10 s, then 4 MB/s for 10 s: the rate reports the recent speed.
  uint64_t done = 0;
  for (int i = 1; i <= 200; ++i) {
    done += i <= 100 ? 100'000 : 400'000;
    lines.update(at(done, std::nullopt, i * 0.1));
  }
  ASSERT_TRUE(lines.rate_bytes_per_s());
  EXPECT_NEAR(*lines.rate_bytes_per_s(), 4e6, 0.1e6);
  std::fclose(sink);
}

}  // namespace
}  // namespace capibara::download
