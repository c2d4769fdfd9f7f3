// Chat templates for synthetic models: compact Jinja templates that produce the same prompt
// markup as the real models' (`tokenizer.chat_template`), so that `capibara run`, `serve` and
// `template` exercise the special tokens of each family.
//
// Thread safety: constant data.
#pragma once

#include <string_view>

#include "tools/synth_presets.hpp"

namespace capibara::tools {

std::string_view chat_style_name(ChatStyle style);  // "zephyr", "chatml", ...
std::string_view synth_chat_template(ChatStyle style);

}  // namespace capibara::tools
