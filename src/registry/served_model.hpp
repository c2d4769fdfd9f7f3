// A loaded model as the front ends use it: its engine (model, tokenizer, scheduler thread) and
// its parsed chat template. Handed out as `shared_ptr`, so a request in flight keeps the model
// alive even when the registry decides to unload it: it is freed when the last request ends.
//
// Thread safety: immutable after construction; the engine is itself thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "chat/chat_template.hpp"
#include "engine/engine.hpp"

namespace capibara {

struct ServedModel {
  std::string id;
  std::unique_ptr<Engine> engine;
  std::optional<chat::ChatTemplate> chat_template;  // nullopt: the model has none
  std::string chat_template_source;                 // "gguf", "config", "fallback (chatml)"
  std::string bos_text;  // text of the BOS / EOS tokens, for templates that print them
  std::string eos_text;
};

}  // namespace capibara
