// Stop strings over streamed text: holds back text that could be the start of a stop string,
// never emits a stop string or anything after it, and works when a stop string spans several
// pieces. Runs in the output processor (detokenized pieces in, text for the client out).
//
// Thread safety: one `StopMatcher` per sequence, used by one thread at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace capibara {

class StopMatcher {
 public:
  struct Output {
    std::string emit;      // text that is safe to send now
    bool stopped = false;  // a stop string was found: generation should end
  };

  // Empty strings in `stop_strings` are ignored; with none left, every piece is emitted as is.
  explicit StopMatcher(std::vector<std::string> stop_strings);

  // Adds `piece` to the text. When a stop string appears, emits the text before it and reports
  // `stopped`; later calls emit nothing.
  Output push(std::string_view piece);
  // Text held back at the end of generation (a partial stop string that never completed).
  std::string flush();

  bool stopped() const { return matched_.has_value(); }
  // Index in the constructor's list of the stop string that matched.
  std::optional<size_t> matched_index() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::vector<size_t> stop_indices_;  // [stops_.size()] position in the caller's list
  std::string held_;                  // the longest suffix that may still start a stop string
  std::optional<size_t> matched_;
};

}  // namespace capibara
