// The evaluator: renders a parsed template (`ast.hpp`) against variables, with Python semantics
// for every operation and hard limits so that a hostile template fails with a clear error
// instead of exhausting the stack, the memory or the CPU.
//
// One `Interpreter` serves one render on one thread; the `Program` it reads may be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/ast.hpp"
#include "chat/value.hpp"

namespace capibara::chat {

// Safety limits of one render. The defaults are far above what real chat templates need; they
// only stop runaway templates.
struct RenderLimits {
  size_t max_string_bytes = 32u << 20;  // any one string, the output included
  size_t max_items = 1u << 20;          // any one list (e.g. `range(n)`)
  uint64_t max_steps = 20'000'000;      // evaluated expressions, statements and loop iterations
  int max_call_depth = 100;             // nested macro calls
};

// Variables of one level: the render's globals, a macro call, a loop iteration, a `with`.
struct Scope {
  explicit Scope(std::shared_ptr<Scope> parent_scope = nullptr) : parent(std::move(parent_scope)) {}
  Value* find(const std::string& name);

  std::shared_ptr<Scope> parent;
  std::unordered_map<std::string, Value> vars;
};

class Interpreter {
 public:
  explicit Interpreter(RenderLimits limits) : limits_(limits) {}
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders `program` with `globals` as the outermost scope. Throws `TemplateError`.
  std::string render(const Program& program, std::shared_ptr<Scope> globals);

  // --- services for filters, tests, methods and globals (`native.hpp`) ---

  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& subject, CallArgs& args);
  bool apply_test(std::string_view name, const Value& subject, CallArgs& args);
  // Jinja's `obj.name`: a method or attribute first, then the dict key; undefined when absent.
  Value get_attribute(const Value& object, std::string_view name);
  // Jinja's `obj[key]`: the item first, then an attribute of that name; undefined when absent.
  Value get_item(const Value& object, const Value& key);
  // Counts `steps` against the step limit.
  void charge(uint64_t steps = 1);
  // Throws the limit error when a string or list of `size` would exceed its limit.
  void check_string_size(size_t bytes) const;
  void check_item_count(size_t items) const;
  const RenderLimits& limits() const { return limits_; }
  // Called by the mutating methods (`append`, `update`, ...) and `set ns.attr`: a list or dict
  // that receives another container or a function might now contain itself, which reference
  // counting cannot free. Such containers are emptied when the render ends.
  void note_insertion(const Value& container, const Value& inserted);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct Callable;  // a macro or a call block's `caller`

  Flow exec_body(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec(const Stmt& stmt, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec_for(const ForStmt& stmt, const std::shared_ptr<Scope>& scope, std::string& out);
  void exec_set(const Target& target, Value value, Scope& scope);
  void exec_macro(const MacroStmt& stmt, const std::shared_ptr<Scope>& scope);
  void exec_call_block(const CallBlockStmt& stmt, const std::shared_ptr<Scope>& scope,
                       std::string& out);
  std::string render_body(const Body& body, const std::shared_ptr<Scope>& parent);
  Value make_callable(std::string name, const std::vector<Parameter>* params, const Body* body,
                      const std::shared_ptr<Scope>& scope);
  Value invoke(const Callable& callable, CallArgs& args);
  void release_render_state();

  Value eval(const Expr& expr, const std::shared_ptr<Scope>& scope);
  Value eval_node(const Expr& expr, const std::shared_ptr<Scope>& scope);
  Value eval_binary(const Binary& expr, const std::shared_ptr<Scope>& scope);
  Value eval_compare(const Compare& expr, const std::shared_ptr<Scope>& scope);
  Value eval_slice(const Value& object, const Slice& slice, const std::shared_ptr<Scope>& scope);
  Value eval_filter(const FilterExpr& expr, const std::shared_ptr<Scope>& scope,
                    const Value* block_text);
  CallArgs eval_args(const Arguments& args, const std::shared_ptr<Scope>& scope);
  void append(std::string& out, std::string_view text) const;

  RenderLimits limits_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  // Scopes that macros were defined in. Macros hold them weakly (a scope usually holds its own
  // macros, which would make a reference cycle); this keeps them alive until the render ends.
  std::vector<std::shared_ptr<Scope>> macro_scopes_;
  // Containers that may be part of a reference cycle (see `note_insertion`).
  std::vector<Value> cycle_candidates_;
  std::unordered_set<const void*> cycle_candidate_ids_;
};

}  // namespace capibara::chat
