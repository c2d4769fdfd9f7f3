// Rendering of download progress: bar, log lines, sizes, rates and times.
#include "download/progress_printer.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>

namespace capibara::download {
namespace {

constexpr double kRateWindow_s = 5.0;   // the rate follows the last seconds, not the average
constexpr double kMinRateSpan_s = 0.5;  // shorter spans give wild numbers
constexpr double kSampleInterval_s = 0.1;

std::optional<double> eta_s(const DownloadProgress& p, std::optional<double> rate) {
  if (!p.total_bytes || !rate || *rate <= 0 || p.downloaded_bytes > *p.total_bytes) {
    return std::nullopt;
  }
  return static_cast<double>(*p.total_bytes - p.downloaded_bytes) / *rate;
}

int percent(const DownloadProgress& p) {
  if (!p.total_bytes || *p.total_bytes == 0) return 100;
  return static_cast<int>(std::min<uint64_t>(100, p.downloaded_bytes * 100 / *p.total_bytes));
}

std::string rate_text(std::optional<double> rate) {
  return rate ? format_size(static_cast<uint64_t>(*rate)) + "/s" : "-- MB/s";
}

}  // namespace

std::string format_size(uint64_t n_bytes) {
  const double v = static_cast<double>(n_bytes);
  return v < 1e9 ? fmt::format("{:.1f} MB", v / 1e6) : fmt::format("{:.2f} GB", v / 1e9);
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, std::round(seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string format_bar_line(std::string_view label, const DownloadProgress& p,
                            std::optional<double> rate, int width) {
  std::string tail;
  if (p.total_bytes) {
    const auto eta = eta_s(p, rate);
    tail = fmt::format("  {} / {}  {}  ETA {}", format_size(p.downloaded_bytes),
                       format_size(*p.total_bytes), rate_text(rate),
                       eta ? format_duration(*eta) : "--:--");
  } else {
    tail = fmt::format("  {}  {}", format_size(p.downloaded_bytes), rate_text(rate));
  }
  // One column is left free: writing the last column makes some terminals wrap.
  const int room = std::max(0, width - 1 - static_cast<int>(tail.size()));
  constexpr int kMaxLabel = 32;
  constexpr int kMinBar = 10;
  std::string head;
  if (p.total_bytes) {
    const std::string pct = fmt::format("{:3}% ", percent(p));
    const int label_room = std::max(0, room - static_cast<int>(pct.size()) - kMinBar - 4);
    std::string name(label.substr(0, static_cast<size_t>(std::min(label_room, kMaxLabel))));
    const int bar = std::max(0, room - static_cast<int>(name.size() + pct.size()) - 3);
    const int filled = bar * percent(p) / 100;
    head = fmt::format("{}{}{}", name, name.empty() ? "" : " ", pct);
    if (bar > 0) {
      head += fmt::format("[{}{}]", std::string(static_cast<size_t>(filled), '#'),
                          std::string(static_cast<size_t>(bar - filled), ' '));
    }
  } else {
    head = std::string(label.substr(0, static_cast<size_t>(std::min(room, kMaxLabel))));
  }
  std::string line = head + tail;
  if (static_cast<int>(line.size()) > width - 1)
    line.resize(static_cast<size_t>(std::max(0, width - 1)));
  return line;
}

std::string format_log_line(std::string_view label, const DownloadProgress& p,
                            std::optional<double> rate) {
  if (!p.total_bytes) {
    return fmt::format("{}: {}, {}", label, format_size(p.downloaded_bytes), rate_text(rate));
  }
  const auto eta = eta_s(p, rate);
  return fmt::format("{}: {}% ({} of {}), {}, ETA {}", label, percent(p),
                     format_size(p.downloaded_bytes), format_size(*p.total_bytes), rate_text(rate),
                     eta ? format_duration(*eta) : "--:--");
}

ProgressPrinter::ProgressPrinter(std::FILE* out, ProgressStyle style, std::string label, int width)
    : out_(out), style_(style), label_(std::move(label)), width_(std::max(20, width)) {}

std::optional<double> ProgressPrinter::rate_bytes_per_s() const {
  if (samples_.size() >= 2) {
    const double span = samples_.back().first - samples_.front().first;
    if (span >= kMinRateSpan_s) {
      return static_cast<double>(samples_.back().second - samples_.front().second) / span;
    }
  }
  // A download too short for the window still gets its average speed on the final line.
  if (last_ && last_->total_bytes && last_->downloaded_bytes >= *last_->total_bytes &&
      last_->elapsed_s > 0 && last_->downloaded_bytes > last_->resumed_from_bytes) {
    return static_cast<double>(last_->downloaded_bytes - last_->resumed_from_bytes) /
           last_->elapsed_s;
  }
  return std::nullopt;
}

void ProgressPrinter::update(const DownloadProgress& p) {
  if (style_ == ProgressStyle::kQuiet) return;
  // A restart from zero makes the old samples meaningless for the rate.
  if (!samples_.empty() && p.downloaded_bytes < samples_.back().second) samples_.clear();
  if (samples_.empty() || p.elapsed_s - samples_.back().first >= kSampleInterval_s) {
    samples_.emplace_back(p.elapsed_s, p.downloaded_bytes);
    while (samples_.size() > 2 && p.elapsed_s - samples_[1].first >= kRateWindow_s) {
      samples_.pop_front();
    }
  }
  last_ = p;
  const bool done = p.total_bytes && p.downloaded_bytes >= *p.total_bytes;
  const double interval = style_ == ProgressStyle::kBar ? kBarInterval_s : kLineInterval_s;
  if (p.elapsed_s - last_draw_s_ >= interval || (done && style_ == ProgressStyle::kBar)) {
    draw(p);
  }
}

void ProgressPrinter::draw(const DownloadProgress& p) {
  last_draw_s_ = p.elapsed_s;
  if (style_ == ProgressStyle::kBar) {
    fmt::print(out_, "\r{}\x1b[K", format_bar_line(label_, p, rate_bytes_per_s(), width_));
    bar_on_screen_ = true;
  } else {
    fmt::print(out_, "capibara: {}\n", format_log_line(label_, p, rate_bytes_per_s()));
  }
  std::fflush(out_);
}

void ProgressPrinter::notice(std::string_view message) {
  if (style_ == ProgressStyle::kQuiet) return;
  if (bar_on_screen_) fmt::print(out_, "\r\x1b[K");
  fmt::print(out_, "capibara: {}\n", message);
  if (bar_on_screen_ && last_) {
    fmt::print(out_, "{}", format_bar_line(label_, *last_, rate_bytes_per_s(), width_));
  }
  std::fflush(out_);
}

void ProgressPrinter::finish() {
  if (style_ != ProgressStyle::kBar || !bar_on_screen_) return;
  if (last_) draw(*last_);
  fmt::print(out_, "\n");
  std::fflush(out_);
  bar_on_screen_ = false;
}

}  // namespace capibara::download
