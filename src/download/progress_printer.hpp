// Progress of a download for people: a redrawn bar on a terminal, a line every few seconds in
// logs, nothing when quiet. Used by `capibara pull`; lives here so other front ends can reuse it.
//
// Thread safety: one thread (the downloading one, through `DownloadObserver`).
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "download/download.hpp"

namespace capibara::download {

enum class ProgressStyle {
  kBar,    // stderr is a terminal: one line redrawn in place
  kLines,  // a log or a pipe: a line every `kLineInterval_s`
  kQuiet,  // nothing at all
};

class ProgressPrinter {
 public:
  static constexpr double kLineInterval_s = 5.0;
  static constexpr double kBarInterval_s = 0.1;  // redraws at most this often

  // `label` names the file; `width` is the terminal's width in columns (bar style).
  ProgressPrinter(std::FILE* out, ProgressStyle style, std::string label, int width = 80);

  void update(const DownloadProgress& progress);
  // Prints "capibara: <message>" on its own line, keeping the bar below it.
  void notice(std::string_view message);
  // Draws the bar's final state and ends its line.
  void finish();

  // Bytes per second over the last few seconds; nullopt until there is enough to tell.
  std::optional<double> rate_bytes_per_s() const;

 private:
  void draw(const DownloadProgress& progress);

  std::FILE* out_;
  ProgressStyle style_;
  std::string label_;
  int width_;
  std::deque<std::pair<double, uint64_t>> samples_;  // (elapsed_s, downloaded_bytes), ~5 s
  std::optional<DownloadProgress> last_;
  double last_draw_s_ = -1e9;
  bool bar_on_screen_ = false;
};

// "12.3 MB", "4.07 GB" (decimal units, as download speeds are quoted).
std::string format_size(uint64_t n_bytes);
// "0:07", "12:34", "1:02:03".
std::string format_duration(double seconds);
// The terminal line: "name  42% [########        ]  12.3 MB / 29.0 MB  5.1 MB/s  ETA 0:03",
// shortened (label first, then the bar) to fit `width` columns.
std::string format_bar_line(std::string_view label, const DownloadProgress& progress,
                            std::optional<double> rate_bytes_per_s, int width);
// The log line: "name: 42% (12.3 MB of 29.0 MB), 5.1 MB/s, ETA 0:03".
std::string format_log_line(std::string_view label, const DownloadProgress& progress,
                            std::optional<double> rate_bytes_per_s);

}  // namespace capibara::download
