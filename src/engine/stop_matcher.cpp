// Stop-string matching over streamed text (see stop_matcher.hpp).
#include "engine/stop_matcher.hpp"

#include <algorithm>

namespace capibara {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (size_t i = 0; i < stop_strings.size(); ++i) {
    if (stop_strings[i].empty()) continue;
    stops_.push_back(std::move(stop_strings[i]));
    stop_indices_.push_back(i);
  }
}

StopMatcher::Output StopMatcher::push(std::string_view piece) {
  if (matched_) return {"", true};
  if (stops_.empty()) return {std::string(piece), false};
  held_.append(piece);

  // The earliest occurrence wins; at the same position, the first string in the list.
  size_t best_pos = std::string::npos;
  size_t best = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = held_.find(stops_[i]);
    if (pos < best_pos) {
      best_pos = pos;
      best = i;
    }
  }
  if (best_pos != std::string::npos) {
    matched_ = stop_indices_[best];
    std::string emit = held_.substr(0, best_pos);
    held_.clear();
    return {std::move(emit), true};
  }

  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    for (size_t length = std::min(stop.size() - 1, held_.size()); length > keep; --length) {
      if (std::string_view(held_).ends_with(std::string_view(stop).substr(0, length))) {
        keep = length;
        break;
      }
    }
  }
  std::string emit = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return {std::move(emit), false};
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace capibara
