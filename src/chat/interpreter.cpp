// The evaluator: statements, expressions, macros and scopes, with Jinja's semantics.
#include "chat/interpreter.hpp"

#include <algorithm>

#include "chat/native.hpp"
#include "chat/serialize.hpp"
#include "chat/template_error.hpp"

namespace capibara::chat {
namespace {

[[noreturn]] void fail_limit(std::string message) {
  throw TemplateError(TemplateError::Kind::kLimit, std::move(message));
}

// Jinja's name for the type of an object in "has no attribute" messages.
std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_namespace()) return "jinja2.utils.Namespace object";
  return v.type_name() + " object";
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

Value no_attribute(const Value& object, std::string_view name) {
  return Value::undefined(in_quotes(object_type_repr(object)) + " has no attribute " +
                          in_quotes(name));
}

}  // namespace

void fail(std::string message) {
  throw TemplateError(TemplateError::Kind::kRuntime, std::move(message));
}

Value* Scope::find(const std::string& name) {
  for (Scope* s = this; s != nullptr; s = s->parent.get()) {
    const auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

struct Interpreter::Callable {
  std::string name;
  const std::vector<Parameter>* params;
  const Body* body;
  std::weak_ptr<Scope> scope;  // kept alive by `macro_scopes_`
};

std::string Interpreter::render(const Program& program, std::shared_ptr<Scope> globals) {
  auto top = std::make_shared<Scope>(std::move(globals));
  std::string out;
  try {
    exec_body(program.body, top, out);
  } catch (...) {
    release_render_state();
    throw;
  }
  release_render_state();
  return out;
}

void Interpreter::note_insertion(const Value& container, const Value& inserted) {
  if (!inserted.is_list() && !inserted.is_dict() && !inserted.is_function()) return;
  if (cycle_candidate_ids_.insert(container.identity()).second) {
    cycle_candidates_.push_back(container);
  }
}

// Breaks the reference cycles a template may have made, then lets the render's values go.
void Interpreter::release_render_state() {
  for (const Value& container : cycle_candidates_) {
    if (container.is_list()) {
      container.as_list().items.clear();
    } else {
      container.as_dict().clear();
    }
  }
  cycle_candidates_.clear();
  cycle_candidate_ids_.clear();
  macro_scopes_.clear();
}

// --- limits -------------------------------------------------------------------------------

void Interpreter::charge(uint64_t steps) {
  steps_ += steps;
  if (steps_ > limits_.max_steps) {
    fail_limit("the template ran for more than " + std::to_string(limits_.max_steps) +
               " steps (an endless or exploding loop?)");
  }
}

void Interpreter::check_string_size(size_t bytes) const {
  if (bytes > limits_.max_string_bytes) {
    fail_limit("the template produced a string of more than " +
               std::to_string(limits_.max_string_bytes) + " bytes");
  }
}

void Interpreter::check_item_count(size_t items) const {
  if (items > limits_.max_items) {
    fail_limit("the template produced a list of more than " + std::to_string(limits_.max_items) +
               " items");
  }
}

void Interpreter::append(std::string& out, std::string_view text) const {
  check_string_size(out.size() + text.size());
  out.append(text);
}

// --- statements ---------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec_body(const Body& body, const std::shared_ptr<Scope>& scope,
                                         std::string& out) {
  for (const StmtPtr& stmt : body) {
    const Flow flow = exec(*stmt, scope, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, const std::shared_ptr<Scope>& scope,
                                    std::string& out) {
  charge();
  try {
    switch (stmt.kind) {
      case Stmt::Kind::kText:
        append(out, static_cast<const TextStmt&>(stmt).text);
        return Flow::kNormal;
      case Stmt::Kind::kOutput:
        append(out, to_python_str(eval(*static_cast<const OutputStmt&>(stmt).expr, scope)));
        return Flow::kNormal;
      case Stmt::Kind::kIf: {
        const auto& s = static_cast<const IfStmt&>(stmt);
        for (const auto& [condition, body] : s.branches) {
          if (eval(*condition, scope).truthy()) return exec_body(body, scope, out);
        }
        return exec_body(s.else_body, scope, out);
      }
      case Stmt::Kind::kFor:
        return exec_for(static_cast<const ForStmt&>(stmt), scope, out);
      case Stmt::Kind::kSet: {
        const auto& s = static_cast<const SetStmt&>(stmt);
        exec_set(s.target, eval(*s.value, scope), *scope);
        return Flow::kNormal;
      }
      case Stmt::Kind::kSetBlock: {
        const auto& s = static_cast<const SetBlockStmt&>(stmt);
        Value text(render_body(s.body, scope));
        if (s.filter) text = eval_filter(static_cast<const FilterExpr&>(*s.filter), scope, &text);
        exec_set(s.target, std::move(text), *scope);
        return Flow::kNormal;
      }
      case Stmt::Kind::kMacro:
        exec_macro(static_cast<const MacroStmt&>(stmt), scope);
        return Flow::kNormal;
      case Stmt::Kind::kCallBlock:
        exec_call_block(static_cast<const CallBlockStmt&>(stmt), scope, out);
        return Flow::kNormal;
      case Stmt::Kind::kFilterBlock: {
        const auto& s = static_cast<const FilterBlockStmt&>(stmt);
        const Value text(render_body(s.body, scope));
        const Value filtered = eval_filter(static_cast<const FilterExpr&>(*s.filter), scope, &text);
        append(out, to_python_str(filtered));
        return Flow::kNormal;
      }
      case Stmt::Kind::kWith: {
        const auto& s = static_cast<const WithStmt&>(stmt);
        auto inner = std::make_shared<Scope>(scope);
        std::vector<Value> values;
        for (const auto& [target, value] : s.assignments) values.push_back(eval(*value, scope));
        for (size_t i = 0; i < values.size(); ++i) {
          exec_set(s.assignments[i].first, std::move(values[i]), *inner);
        }
        return exec_body(s.body, inner, out);
      }
      case Stmt::Kind::kScope:
        return exec_body(static_cast<const ScopeStmt&>(stmt).body, scope, out);
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
    }
  } catch (const TemplateError& e) {
    if (e.line() != 0) throw;
    throw TemplateError(e.kind(), e.message(), stmt.line, stmt.column);
  }
  return Flow::kNormal;
}

std::string Interpreter::render_body(const Body& body, const std::shared_ptr<Scope>& parent) {
  auto inner = std::make_shared<Scope>(parent);
  std::string text;
  exec_body(body, inner, text);
  return text;
}

void Interpreter::exec_set(const Target& target, Value value, Scope& scope) {
  if (!target.attribute.empty()) {
    Value* object = scope.find(target.names[0]);
    if (object == nullptr || !object->is_namespace()) {
      fail("cannot assign attribute on non-namespace object");
    }
    note_insertion(*object, value);
    object->as_dict().set(Value(target.attribute), std::move(value));
    return;
  }
  if (!target.is_tuple) {
    scope.vars[target.names[0]] = std::move(value);
    return;
  }
  std::vector<Value> items = iterate(value);
  const size_t n = target.names.size();
  if (items.size() > n) fail("too many values to unpack (expected " + std::to_string(n) + ")");
  if (items.size() < n) {
    fail("not enough values to unpack (expected " + std::to_string(n) + ", got " +
         std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < n; ++i) scope.vars[target.names[i]] = std::move(items[i]);
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& stmt, const std::shared_ptr<Scope>& scope,
                                        std::string& out) {
  if (stmt.recursive) fail("recursive loops are not supported");
  const Value iterable = eval(*stmt.iterable, scope);
  std::vector<Value> items = iterate(iterable);
  if (stmt.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      charge();
      auto probe = std::make_shared<Scope>(scope);
      exec_set(stmt.target, item, *probe);
      if (eval(*stmt.filter, probe).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    return exec_body(stmt.else_body, scope, out);  // a break here belongs to an outer loop
  }
  const auto length = static_cast<int64_t>(items.size());
  // `loop.cycle` and `loop.changed` are made once per loop; they read the current index.
  auto index = std::make_shared<int64_t>(0);
  const Value cycle = Value::function("loop.cycle", [index](Interpreter&, CallArgs& args) -> Value {
    if (args.positional.empty()) fail("no items for cycling given");
    return args.positional[static_cast<size_t>(*index) % args.positional.size()];
  });
  // `loop.changed(x)` compares with the value of its previous call, across iterations.
  auto last_changed = std::make_shared<Value>(Value::undefined("no previous value"));
  const Value changed =
      Value::function("loop.changed", [last_changed](Interpreter&, CallArgs& args) -> Value {
        Value current = Value::tuple(args.positional);
        if (!last_changed->is_undefined() && values_equal(*last_changed, current)) return false;
        *last_changed = std::move(current);
        return true;
      });
  for (int64_t i = 0; i < length; ++i) {
    charge();
    *index = i;
    auto inner = std::make_shared<Scope>(scope);
    exec_set(stmt.target, items[static_cast<size_t>(i)], *inner);
    Value loop = Value::dict();
    DictData& d = loop.as_dict();
    d.entries.reserve(13);
    d.insert_new("index", i + 1);
    d.insert_new("index0", i);
    d.insert_new("revindex", length - i);
    d.insert_new("revindex0", length - i - 1);
    d.insert_new("first", i == 0);
    d.insert_new("last", i == length - 1);
    d.insert_new("length", length);
    d.insert_new("depth", 1);
    d.insert_new("depth0", 0);
    d.insert_new("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                                   : Value::undefined("there is no previous item"));
    d.insert_new("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                            : Value::undefined("there is no next item"));
    d.insert_new("cycle", cycle);
    d.insert_new("changed", changed);
    inner->vars["loop"] = std::move(loop);
    const Flow flow = exec_body(stmt.body, inner, out);
    if (flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

// --- macros -------------------------------------------------------------------------------

Value Interpreter::make_callable(std::string name, const std::vector<Parameter>* params,
                                 const Body* body, const std::shared_ptr<Scope>& scope) {
  macro_scopes_.push_back(scope);
  auto callable = std::make_shared<Callable>(Callable{name, params, body, scope});
  return Value::function(std::move(name), [callable](Interpreter& interp, CallArgs& args) {
    return interp.invoke(*callable, args);
  });
}

void Interpreter::exec_macro(const MacroStmt& stmt, const std::shared_ptr<Scope>& scope) {
  scope->vars[stmt.name] = make_callable(stmt.name, &stmt.params, &stmt.body, scope);
}

void Interpreter::exec_call_block(const CallBlockStmt& stmt, const std::shared_ptr<Scope>& scope,
                                  std::string& out) {
  const auto& call = static_cast<const Call&>(*stmt.call);
  const Value callee = eval(*call.callee, scope);
  CallArgs args = eval_args(call.args, scope);
  args.keyword.emplace_back("caller", make_callable("caller", &stmt.params, &stmt.body, scope));
  append(out, to_python_str(this->call(callee, args)));
}

Value Interpreter::invoke(const Callable& callable, CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth) {
    fail_limit("macro calls nested more than " + std::to_string(limits_.max_call_depth) +
               " levels deep (endless recursion?)");
  }
  struct DepthScope {
    explicit DepthScope(int& d) : depth(d) { ++depth; }
    ~DepthScope() { --depth; }
    DepthScope(const DepthScope&) = delete;
    DepthScope& operator=(const DepthScope&) = delete;
    int& depth;
  } depth_scope(call_depth_);

  auto scope = std::make_shared<Scope>(callable.scope.lock());
  const auto& params = *callable.params;
  std::vector<bool> keyword_used(args.keyword.size(), false);
  for (size_t i = 0; i < params.size(); ++i) {
    const Parameter& param = params[i];
    Value value;
    bool given = false;
    if (i < args.positional.size()) {
      value = args.positional[i];
      given = true;
    }
    for (size_t k = 0; k < args.keyword.size(); ++k) {
      if (args.keyword[k].first != param.name) continue;
      if (given) fail("macro '" + callable.name + "' got multiple values for '" + param.name + "'");
      value = args.keyword[k].second;
      keyword_used[k] = true;
      given = true;
    }
    if (!given) {
      value = param.default_value
                  ? eval(*param.default_value, scope)
                  : Value::undefined("parameter " + in_quotes(param.name) + " was not provided");
    }
    scope->vars[param.name] = std::move(value);
  }
  std::vector<Value> extra_positional;
  for (size_t i = params.size(); i < args.positional.size(); ++i) {
    extra_positional.push_back(args.positional[i]);
  }
  Value kwargs = Value::dict();
  for (size_t k = 0; k < args.keyword.size(); ++k) {
    if (keyword_used[k]) continue;
    if (args.keyword[k].first == "caller") {
      scope->vars["caller"] = args.keyword[k].second;
    } else {
      kwargs.as_dict().set(Value(args.keyword[k].first), args.keyword[k].second);
    }
  }
  scope->vars["varargs"] = Value::tuple(std::move(extra_positional));
  scope->vars["kwargs"] = std::move(kwargs);
  std::string out;
  exec_body(*callable.body, scope, out);
  return Value(std::move(out));
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  charge();
  if (callee.is_function()) return callee.as_function().call(*this, args);
  if (callee.is_undefined()) fail(callee.undefined_hint());
  fail("'" + callee.type_name() + "' object is not callable");
}

// --- expressions --------------------------------------------------------------------------

Value Interpreter::eval(const Expr& expr, const std::shared_ptr<Scope>& scope) {
  try {
    return eval_node(expr, scope);
  } catch (const TemplateError& e) {
    if (e.line() != 0) throw;
    throw TemplateError(e.kind(), e.message(), expr.line, expr.column);
  }
}

CallArgs Interpreter::eval_args(const Arguments& args, const std::shared_ptr<Scope>& scope) {
  CallArgs out;
  for (const ExprPtr& e : args.positional) out.positional.push_back(eval(*e, scope));
  for (const auto& [name, e] : args.keyword) out.keyword.emplace_back(name, eval(*e, scope));
  if (args.star_args) {
    for (Value& v : iterate(eval(*args.star_args, scope))) out.positional.push_back(std::move(v));
  }
  if (args.star_kwargs) {
    const Value kwargs = eval(*args.star_kwargs, scope);
    if (!kwargs.is_mapping()) fail("argument after ** must be a mapping");
    for (const auto& [key, value] : kwargs.as_dict().entries) {
      if (!key.is_string()) fail("keywords must be strings");
      out.keyword.emplace_back(key.as_string(), value);
    }
  }
  return out;
}

Value Interpreter::eval_node(const Expr& expr, const std::shared_ptr<Scope>& scope) {
  charge();
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return static_cast<const Literal&>(expr).value;
    case Expr::Kind::kName: {
      const auto& name = static_cast<const NameRef&>(expr).name;
      if (const Value* v = scope->find(name)) return *v;
      return Value::undefined(in_quotes(name) + " is undefined");
    }
    case Expr::Kind::kList: {
      const auto& e = static_cast<const ListExpr&>(expr);
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const ExprPtr& item : e.items) items.push_back(eval(*item, scope));
      return e.is_tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    case Expr::Kind::kDict: {
      Value dict = Value::dict();
      for (const auto& [key, value] : static_cast<const DictExpr&>(expr).items) {
        Value k = eval(*key, scope);
        dict.as_dict().set(std::move(k), eval(*value, scope));
      }
      return dict;
    }
    case Expr::Kind::kUnary: {
      const auto& e = static_cast<const Unary&>(expr);
      const Value v = eval(*e.operand, scope);
      if (e.op == UnaryOp::kNot) return !v.truthy();
      if (e.op == UnaryOp::kNegate) return negate(v);
      if (v.is_bool()) return v.to_int();
      if (v.is_int() || v.is_float()) return v;
      if (v.is_undefined()) fail(v.undefined_hint());
      fail("bad operand type for unary +: '" + v.type_name() + "'");
    }
    case Expr::Kind::kBinary:
      return eval_binary(static_cast<const Binary&>(expr), scope);
    case Expr::Kind::kCompare:
      return eval_compare(static_cast<const Compare&>(expr), scope);
    case Expr::Kind::kConditional: {
      const auto& e = static_cast<const Conditional&>(expr);
      if (eval(*e.condition, scope).truthy()) return eval(*e.then_value, scope);
      if (e.else_value) return eval(*e.else_value, scope);
      return Value::undefined(
          "the inline if-expression evaluated to false and no else section "
          "was defined.");
    }
    case Expr::Kind::kGetAttr: {
      const auto& e = static_cast<const GetAttr&>(expr);
      return get_attribute(eval(*e.object, scope), e.name);
    }
    case Expr::Kind::kGetItem: {
      const auto& e = static_cast<const GetItem&>(expr);
      const Value object = eval(*e.object, scope);
      if (e.index->kind == Expr::Kind::kSlice) {
        return eval_slice(object, static_cast<const Slice&>(*e.index), scope);
      }
      return get_item(object, eval(*e.index, scope));
    }
    case Expr::Kind::kSlice:
      fail("a slice is only valid inside []");
    case Expr::Kind::kCall: {
      const auto& e = static_cast<const Call&>(expr);
      const Value callee = eval(*e.callee, scope);
      CallArgs args = eval_args(e.args, scope);
      return call(callee, args);
    }
    case Expr::Kind::kFilter:
      return eval_filter(static_cast<const FilterExpr&>(expr), scope, nullptr);
    case Expr::Kind::kTest: {
      const auto& e = static_cast<const TestExpr&>(expr);
      const Value subject = eval(*e.subject, scope);
      CallArgs args = eval_args(e.args, scope);
      return apply_test(e.name, subject, args);
    }
  }
  fail("unknown expression");
}

Value Interpreter::eval_binary(const Binary& expr, const std::shared_ptr<Scope>& scope) {
  Value left = eval(*expr.left, scope);
  if (expr.op == BinaryOp::kAnd) return left.truthy() ? eval(*expr.right, scope) : left;
  if (expr.op == BinaryOp::kOr) return left.truthy() ? left : eval(*expr.right, scope);
  const Value right = eval(*expr.right, scope);
  return binary_operation(*this, expr.op, left, right);
}

Value Interpreter::eval_compare(const Compare& expr, const std::shared_ptr<Scope>& scope) {
  Value left = eval(*expr.first, scope);
  for (const auto& [op, operand] : expr.rest) {
    Value right = eval(*operand, scope);
    bool holds = false;
    switch (op) {
      case CompareOp::kEqual:
        holds = values_equal(left, right);
        break;
      case CompareOp::kNotEqual:
        holds = !values_equal(left, right);
        break;
      case CompareOp::kLess:
        holds = compare_values(left, right, "<") < 0;
        break;
      case CompareOp::kLessEqual:
        holds = compare_values(left, right, "<=") <= 0;
        break;
      case CompareOp::kGreater:
        holds = compare_values(left, right, ">") > 0;
        break;
      case CompareOp::kGreaterEqual:
        holds = compare_values(left, right, ">=") >= 0;
        break;
      case CompareOp::kIn:
        holds = contains(right, left);
        break;
      case CompareOp::kNotIn:
        holds = !contains(right, left);
        break;
    }
    if (!holds) return false;
    left = std::move(right);
  }
  return true;
}

Value Interpreter::eval_slice(const Value& object, const Slice& slice,
                              const std::shared_ptr<Scope>& scope) {
  if (object.is_undefined()) fail(object.undefined_hint());
  Value start;
  Value stop;
  Value step;
  if (slice.start) start = eval(*slice.start, scope);
  if (slice.stop) stop = eval(*slice.stop, scope);
  if (slice.step) step = eval(*slice.step, scope);
  const auto bound = [](const Value& v) { return v.is_undefined() || v.is_none() ? nullptr : &v; };
  return slice_value(*this, object, bound(start), bound(stop), bound(step));
}

Value Interpreter::eval_filter(const FilterExpr& expr, const std::shared_ptr<Scope>& scope,
                               const Value* block_text) {
  try {
    Value subject;
    if (!expr.subject) {
      subject = *block_text;
    } else if (block_text != nullptr && expr.subject->kind == Expr::Kind::kFilter) {
      subject = eval_filter(static_cast<const FilterExpr&>(*expr.subject), scope, block_text);
    } else {
      subject = eval(*expr.subject, scope);
    }
    CallArgs args = eval_args(expr.args, scope);
    return apply_filter(expr.name, subject, args);
  } catch (const TemplateError& e) {
    if (e.line() != 0) throw;
    throw TemplateError(e.kind(), e.message(), expr.line, expr.column);
  }
}

Value Interpreter::apply_filter(std::string_view name, const Value& subject, CallArgs& args) {
  charge();
  const FilterFn filter = find_filter(name);
  if (filter == nullptr) fail("no filter named " + in_quotes(name));
  return filter(*this, subject, args);
}

bool Interpreter::apply_test(std::string_view name, const Value& subject, CallArgs& args) {
  charge();
  const TestFn test = find_test(name);
  if (test == nullptr) fail("no test named " + in_quotes(name));
  return test(*this, subject, args);
}

Value Interpreter::get_attribute(const Value& object, std::string_view name) {
  if (object.is_undefined()) fail(object.undefined_hint());
  if (object.is_namespace()) {
    if (Value* v = object.as_dict().find(name)) return *v;
    return no_attribute(object, name);
  }
  if (std::optional<Value> method = find_method(object, name)) return std::move(*method);
  if (object.is_dict()) {
    if (Value* v = object.as_dict().find(name)) return *v;
  }
  return no_attribute(object, name);
}

Value Interpreter::get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail(object.undefined_hint());
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    if (std::optional<Value> item = index_value(object, key.to_int())) return std::move(*item);
  } else if (object.is_dict()) {
    bool hashable = true;
    try {
      check_hashable(key);
    } catch (const TemplateError&) {
      hashable = false;  // Jinja turns the TypeError into an undefined value
    }
    if (hashable) {
      if (Value* v = object.as_dict().find(key)) return *v;
    }
  }
  if (key.is_string()) {
    if (!object.is_namespace()) {
      if (std::optional<Value> method = find_method(object, key.as_string())) {
        return std::move(*method);
      }
    }
    return no_attribute(object, key.as_string());
  }
  return Value::undefined(object_type_repr(object) + " has no element " + to_python_repr(key));
}

}  // namespace capibara::chat
