// One entry of a forward batch: prefill and decode are the same call, a prompt being a run of
// consecutive positions of one sequence and a decode step one token per sequence.
#pragma once

#include <cstdint>

namespace capibara {

struct BatchToken {
  int32_t token = 0;
  int64_t pos = 0;  // position within its sequence
  int32_t seq = 0;  // index into the `caches` span of `Model::forward`
  bool want_logits = false;
};

}  // namespace capibara
