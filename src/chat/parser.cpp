// Recursive-descent parser of the Jinja subset (grammar of Jinja 3.1's `jinja2.parser`).
#include "chat/parser.hpp"

#include <algorithm>
#include <initializer_list>

#include "chat/lexer.hpp"
#include "chat/template_error.hpp"

namespace capibara::chat {
namespace {

// Deeper nesting (of expressions and blocks together) is refused so that parsing, evaluating and
// freeing the tree stay far from the stack's limit.
constexpr int kMaxNesting = 256;

template <typename T>
std::unique_ptr<T> make_node(const Token& at) {
  auto node = std::make_unique<T>();
  node->line = at.line;
  node->column = at.column;
  return node;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Program run() {
    Program program;
    program.body = parse_body({}, nullptr);
    return program;
  }

 private:
  // --- token stream -----------------------------------------------------------------------

  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  static bool is_name(const Token& t, std::string_view word) {
    return t.kind == TokenKind::kName && t.text == word;
  }
  static bool is_op(const Token& t, std::string_view op) {
    return t.kind == TokenKind::kOperator && t.text == op;
  }
  bool skip_name(std::string_view word) {
    if (!is_name(peek(), word)) return false;
    next();
    return true;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(peek(), op)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    throw TemplateError(TemplateError::Kind::kSyntax, message, at.line, at.column);
  }
  [[noreturn]] void unexpected(const Token& at, std::string_view expected = {}) const {
    std::string message = "unexpected " + describe(at);
    if (!expected.empty()) message += ", expected " + std::string(expected);
    fail(at, message);
  }

  const Token& expect_op(std::string_view op) {
    if (!is_op(peek(), op)) unexpected(peek(), "'" + std::string(op) + "'");
    return next();
  }
  const Token& expect_name() {
    if (peek().kind != TokenKind::kName) unexpected(peek(), "a name");
    return next();
  }
  void expect_name(std::string_view word) {
    if (!is_name(peek(), word)) unexpected(peek(), "'" + std::string(word) + "'");
    next();
  }
  void expect_block_end() {
    if (peek().kind != TokenKind::kBlockEnd) unexpected(peek(), "end of statement block");
    next();
  }

  class DepthGuard {
   public:
    DepthGuard(Parser& parser, const Token& at) : parser_(parser) {
      if (++parser_.depth_ > kMaxNesting) {
        parser_.fail(at,
                     "template nested more than " + std::to_string(kMaxNesting) + " levels deep");
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  // --- statements -------------------------------------------------------------------------

  // Parses until `{% <one of end_tags>`; consumes that `{%` and tag name, stores the tag name in
  // `found` and leaves the rest of the tag to the caller. With no end tags, parses to the end.
  Body parse_body(std::initializer_list<std::string_view> end_tags, std::string* found) {
    Body body;
    while (true) {
      const Token& token = peek();
      switch (token.kind) {
        case TokenKind::kEnd:
          if (end_tags.size() != 0) {
            std::string expected;
            for (const auto tag : end_tags) {
              expected += (expected.empty() ? "'" : " or '") + std::string(tag) + "'";
            }
            std::string message = "unexpected end of template, expected " + expected;
            if (!open_blocks_.empty()) {
              const Token& opener = open_blocks_.back();
              message += " (the '" + opener.text + "' at line " + std::to_string(opener.line) +
                         ", column " + std::to_string(opener.column) + " is not closed)";
            }
            fail(token, message);
          }
          return body;
        case TokenKind::kText: {
          auto text = make_node<TextStmt>(token);
          text->text = token.text;
          next();
          body.push_back(std::move(text));
          break;
        }
        case TokenKind::kVariableBegin: {
          auto output = make_node<OutputStmt>(next());
          output->expr = parse_tuple(true, false);
          if (peek().kind != TokenKind::kVariableEnd) unexpected(peek(), "end of print statement");
          next();
          body.push_back(std::move(output));
          break;
        }
        case TokenKind::kBlockBegin: {
          const Token& tag = peek(1);
          if (tag.kind == TokenKind::kName &&
              std::find(end_tags.begin(), end_tags.end(), tag.text) != end_tags.end()) {
            next();
            *found = next().text;
            return body;
          }
          next();
          body.push_back(parse_statement());
          break;
        }
        default:
          unexpected(token);
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& tag = peek();
    if (tag.kind != TokenKind::kName) unexpected(tag, "a statement name");
    DepthGuard guard(*this, tag);
    open_blocks_.push_back(tag);
    StmtPtr stmt = parse_tagged_statement(tag);
    open_blocks_.pop_back();
    return stmt;
  }

  StmtPtr parse_tagged_statement(const Token& tag) {
    const std::string& name = tag.text;
    if (name == "if") return parse_if();
    if (name == "for") return parse_for();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "call") return parse_call_block();
    if (name == "filter") return parse_filter_block();
    if (name == "with") return parse_with();
    if (name == "generation") return parse_generation();
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail(tag, "'" + name + "' outside of a loop");
      auto stmt = std::make_unique<LoopControlStmt>(name == "break" ? Stmt::Kind::kBreak
                                                                    : Stmt::Kind::kContinue);
      stmt->line = tag.line;
      stmt->column = tag.column;
      next();
      expect_block_end();
      return stmt;
    }
    if (name.starts_with("end") || name == "elif" || name == "else") {
      fail(tag, "unexpected '" + name + "' (no open block expects it here)");
    }
    fail(tag, "unknown tag '" + name + "'");
  }

  StmtPtr parse_if() {
    auto stmt = make_node<IfStmt>(next());
    std::string found;
    while (true) {
      ExprPtr condition = parse_tuple(false, false);
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"}, &found);
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      if (found != "elif") break;
    }
    if (found == "else") {
      expect_block_end();
      stmt->else_body = parse_body({"endif"}, &found);
    }
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_for() {
    auto stmt = make_node<ForStmt>(next());
    stmt->target = parse_target(false, "in");
    expect_name("in");
    stmt->iterable = parse_tuple(false, false, "recursive");
    if (skip_name("if")) stmt->filter = parse_expression(true);
    stmt->recursive = skip_name("recursive");
    expect_block_end();
    std::string found;
    ++loop_depth_;
    stmt->body = parse_body({"else", "endfor"}, &found);
    --loop_depth_;
    if (found == "else") {
      expect_block_end();
      stmt->else_body = parse_body({"endfor"}, &found);
    }
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_set() {
    const Token& at = next();
    Target target = parse_target(true, "=");
    if (skip_op("=")) {
      auto stmt = make_node<SetStmt>(at);
      stmt->target = std::move(target);
      stmt->value = parse_tuple(true, false);
      expect_block_end();
      return stmt;
    }
    auto stmt = make_node<SetBlockStmt>(at);
    stmt->target = std::move(target);
    if (is_op(peek(), "|")) stmt->filter = parse_filters(nullptr, false);
    expect_block_end();
    std::string found;
    stmt->body = parse_body({"endset"}, &found);
    expect_block_end();
    return stmt;
  }

  std::vector<Parameter> parse_parameters() {
    std::vector<Parameter> params;
    expect_op("(");
    while (!is_op(peek(), ")")) {
      if (!params.empty()) {
        expect_op(",");
        if (is_op(peek(), ")")) break;
      }
      Parameter param;
      param.name = expect_name().text;
      if (skip_op("=")) {
        param.default_value = parse_expression(true);
      } else if (!params.empty() && params.back().default_value) {
        fail(peek(), "non-default argument follows default argument");
      }
      params.push_back(std::move(param));
    }
    next();
    return params;
  }

  // A macro's body is outside any loop of the template around it.
  Body parse_function_body(std::string_view end_tag) {
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    std::string found;
    Body body = parse_body({end_tag}, &found);
    loop_depth_ = saved_loop_depth;
    expect_block_end();
    return body;
  }

  StmtPtr parse_macro() {
    auto stmt = make_node<MacroStmt>(next());
    stmt->name = expect_name().text;
    stmt->params = parse_parameters();
    expect_block_end();
    stmt->body = parse_function_body("endmacro");
    return stmt;
  }

  StmtPtr parse_call_block() {
    auto stmt = make_node<CallBlockStmt>(next());
    if (is_op(peek(), "(")) stmt->params = parse_parameters();
    const Token& at = peek();
    stmt->call = parse_expression(true);
    if (stmt->call->kind != Expr::Kind::kCall) fail(at, "expected a call after 'call'");
    expect_block_end();
    stmt->body = parse_function_body("endcall");
    return stmt;
  }

  StmtPtr parse_filter_block() {
    auto stmt = make_node<FilterBlockStmt>(next());
    stmt->filter = parse_filters(nullptr, true);
    expect_block_end();
    std::string found;
    stmt->body = parse_body({"endfilter"}, &found);
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_with() {
    auto stmt = make_node<WithStmt>(next());
    while (peek().kind != TokenKind::kBlockEnd) {
      if (!stmt->assignments.empty()) expect_op(",");
      Target target = parse_target(false, "=");
      expect_op("=");
      stmt->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end();
    std::string found;
    stmt->body = parse_body({"endwith"}, &found);
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_generation() {
    auto stmt = make_node<ScopeStmt>(next());
    expect_block_end();
    std::string found;
    stmt->body = parse_body({"endgeneration"}, &found);
    expect_block_end();
    return stmt;
  }

  // `name`, `a, b`, `(a, b)`, or with `allow_attribute` `ns.attr`.
  Target parse_target(bool allow_attribute, std::string_view end_word) {
    Target target;
    if (allow_attribute && peek().kind == TokenKind::kName && is_op(peek(1), ".")) {
      target.names.push_back(next().text);
      next();
      target.attribute = expect_name().text;
      return target;
    }
    const bool parenthesized = skip_op("(");
    while (true) {
      target.names.push_back(expect_name().text);
      if (!skip_op(",")) break;
      target.is_tuple = true;
      if (is_name(peek(), end_word) || is_op(peek(), end_word) || is_op(peek(), ")")) break;
    }
    if (parenthesized) {
      expect_op(")");
      target.is_tuple = true;
    }
    return target;
  }

  // --- expressions ------------------------------------------------------------------------

  // Records the node's height and refuses trees taller than `kMaxNesting` (a chain like
  // `1 + 1 + ... + 1` grows the tree without nesting the parser).
  ExprPtr seal(ExprPtr node) {
    node->height = compute_height(*node);
    if (node->height > kMaxNesting) {
      throw TemplateError(
          TemplateError::Kind::kSyntax,
          "expression nested more than " + std::to_string(kMaxNesting) + " levels deep", node->line,
          node->column);
    }
    return node;
  }

  bool is_tuple_end(std::string_view extra_end) const {
    const Token& t = peek();
    if (t.kind == TokenKind::kVariableEnd || t.kind == TokenKind::kBlockEnd) return true;
    if (is_op(t, ")")) return true;
    return !extra_end.empty() && is_name(t, extra_end);
  }

  // Comma-separated expressions; a tuple when there is a comma.
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parentheses,
                      std::string_view extra_end = {}) {
    const Token& at = peek();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(peek(), ",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) unexpected(peek(), "an expression");
    }
    auto tuple = make_node<ListExpr>(at);
    tuple->items = std::move(items);
    tuple->is_tuple = true;
    return seal(std::move(tuple));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this, peek());
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name(peek(), "if")) {
      auto cond = make_node<Conditional>(next());
      cond->condition = parse_or();
      if (skip_name("else")) cond->else_value = parse_expression(true);
      cond->then_value = std::move(expr);
      expr = seal(std::move(cond));
    }
    return expr;
  }

  ExprPtr binary(const Token& at, BinaryOp op, ExprPtr left, ExprPtr right) {
    auto node = make_node<Binary>(at);
    node->op = op;
    node->left = std::move(left);
    node->right = std::move(right);
    return seal(std::move(node));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name(peek(), "or")) {
      const Token& at = next();
      left = binary(at, BinaryOp::kOr, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name(peek(), "and")) {
      const Token& at = next();
      left = binary(at, BinaryOp::kAnd, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name(peek(), "not")) {
      DepthGuard guard(*this, peek());
      auto node = make_node<Unary>(next());
      node->op = UnaryOp::kNot;
      node->operand = parse_not();
      return seal(std::move(node));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = peek();
    ExprPtr first = parse_math1();
    std::vector<std::pair<CompareOp, ExprPtr>> rest;
    static constexpr std::pair<std::string_view, CompareOp> kOperators[] = {
        {"==", CompareOp::kEqual},  {"!=", CompareOp::kNotEqual},
        {"<", CompareOp::kLess},    {"<=", CompareOp::kLessEqual},
        {">", CompareOp::kGreater}, {">=", CompareOp::kGreaterEqual}};
    while (true) {
      const Token& t = peek();
      const auto it = std::find_if(std::begin(kOperators), std::end(kOperators),
                                   [&](const auto& entry) { return is_op(t, entry.first); });
      CompareOp op = CompareOp::kIn;
      if (it != std::end(kOperators)) {
        op = it->second;
      } else if (is_name(t, "not") && is_name(peek(1), "in")) {
        next();
        op = CompareOp::kNotIn;
      } else if (!is_name(t, "in")) {
        break;
      }
      next();
      rest.emplace_back(op, parse_math1());
    }
    if (rest.empty()) return first;
    auto node = make_node<Compare>(at);
    node->first = std::move(first);
    node->rest = std::move(rest);
    return seal(std::move(node));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op(peek(), "+") || is_op(peek(), "-")) {
      const Token& at = next();
      const BinaryOp op = at.text == "+" ? BinaryOp::kAdd : BinaryOp::kSubtract;
      left = binary(at, op, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op(peek(), "~")) {
      const Token& at = next();
      left = binary(at, BinaryOp::kConcat, std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    static constexpr std::pair<std::string_view, BinaryOp> kOperators[] = {
        {"*", BinaryOp::kMultiply},
        {"/", BinaryOp::kDivide},
        {"//", BinaryOp::kFloorDivide},
        {"%", BinaryOp::kModulo}};
    ExprPtr left = parse_pow();
    while (true) {
      const Token& t = peek();
      const auto it = std::find_if(std::begin(kOperators), std::end(kOperators),
                                   [&](const auto& entry) { return is_op(t, entry.first); });
      if (it == std::end(kOperators)) return left;
      const Token& at = next();
      left = binary(at, it->second, std::move(left), parse_pow());
    }
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op(peek(), "**")) {
      const Token& at = next();
      left = binary(at, BinaryOp::kPower, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, peek());
    ExprPtr node;
    if (is_op(peek(), "-") || is_op(peek(), "+")) {
      auto unary = make_node<Unary>(peek());
      unary->op = next().text == "-" ? UnaryOp::kNegate : UnaryOp::kPlus;
      unary->operand = parse_unary(false);
      node = seal(std::move(unary));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.kind) {
      case TokenKind::kName: {
        next();
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          auto literal = make_node<Literal>(t);
          literal->value = Value(t.text == "true" || t.text == "True");
          return literal;
        }
        if (t.text == "none" || t.text == "None") {
          auto literal = make_node<Literal>(t);
          literal->value = Value::none();
          return literal;
        }
        auto name = make_node<NameRef>(t);
        name->name = t.text;
        return name;
      }
      case TokenKind::kString: {
        auto literal = make_node<Literal>(t);
        std::string value = next().text;
        while (peek().kind == TokenKind::kString) value += next().text;  // "a" "b" == "ab"
        literal->value = Value(std::move(value));
        return literal;
      }
      case TokenKind::kInteger: {
        auto literal = make_node<Literal>(t);
        literal->value = Value(next().int_value);
        return literal;
      }
      case TokenKind::kFloat: {
        auto literal = make_node<Literal>(t);
        literal->value = Value(next().float_value);
        return literal;
      }
      case TokenKind::kOperator:
        if (t.text == "(") {
          next();
          ExprPtr inner = parse_tuple(true, true);
          expect_op(")");
          return inner;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    unexpected(t);
  }

  ExprPtr parse_list() {
    auto list = make_node<ListExpr>(next());
    while (!is_op(peek(), "]")) {
      if (!list->items.empty()) {
        expect_op(",");
        if (is_op(peek(), "]")) break;
      }
      list->items.push_back(parse_expression(true));
    }
    next();
    return seal(std::move(list));
  }

  ExprPtr parse_dict() {
    auto dict = make_node<DictExpr>(next());
    while (!is_op(peek(), "}")) {
      if (!dict->items.empty()) {
        expect_op(",");
        if (is_op(peek(), "}")) break;
      }
      ExprPtr key = parse_expression(true);
      expect_op(":");
      dict->items.emplace_back(std::move(key), parse_expression(true));
    }
    next();
    return seal(std::move(dict));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const Token& t = peek();
      if (is_op(t, ".")) {
        next();
        const Token& attr = peek();
        if (attr.kind == TokenKind::kName) {
          auto get = make_node<GetAttr>(t);
          get->object = std::move(node);
          get->name = next().text;
          node = seal(std::move(get));
        } else if (attr.kind == TokenKind::kInteger) {
          auto get = make_node<GetItem>(t);
          auto index = make_node<Literal>(attr);
          index->value = Value(next().int_value);
          get->object = std::move(node);
          get->index = std::move(index);
          node = seal(std::move(get));
        } else {
          unexpected(attr, "a name or number after '.'");
        }
      } else if (is_op(t, "[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op(t, "(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    auto get = make_node<GetItem>(next());
    std::vector<ExprPtr> args;
    while (!is_op(peek(), "]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    next();
    if (args.empty()) unexpected(peek(), "a subscript");
    get->object = std::move(object);
    if (args.size() == 1) {
      get->index = std::move(args[0]);
    } else {
      auto tuple = std::make_unique<ListExpr>();
      tuple->line = get->line;
      tuple->column = get->column;
      tuple->items = std::move(args);
      tuple->is_tuple = true;
      get->index = seal(std::move(tuple));
    }
    return seal(std::move(get));
  }

  ExprPtr parse_subscribed() {
    const Token& at = peek();
    ExprPtr start;
    if (!is_op(at, ":")) {
      start = parse_expression(true);
      if (!is_op(peek(), ":")) return start;
    }
    next();  // the first ':'
    auto slice = make_node<Slice>(at);
    slice->start = std::move(start);
    const auto at_end = [&] { return is_op(peek(), "]") || is_op(peek(), ","); };
    if (!is_op(peek(), ":") && !at_end()) slice->stop = parse_expression(true);
    if (skip_op(":") && !at_end()) slice->step = parse_expression(true);
    return seal(std::move(slice));
  }

  Arguments parse_call_args() {
    const Token& open = expect_op("(");
    Arguments args;
    bool require_comma = false;
    const auto ensure = [&](bool ok) {
      if (!ok) fail(open, "invalid syntax for function call expression");
    };
    while (!is_op(peek(), ")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(peek(), ")")) break;
      }
      if (skip_op("*")) {
        ensure(!args.star_args && !args.star_kwargs);
        args.star_args = parse_expression(true);
      } else if (skip_op("**")) {
        ensure(!args.star_kwargs);
        args.star_kwargs = parse_expression(true);
      } else if (peek().kind == TokenKind::kName && is_op(peek(1), "=")) {
        ensure(!args.star_kwargs);
        std::string key = next().text;
        next();
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!args.star_args && !args.star_kwargs && args.keyword.empty());
        args.positional.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    next();
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = make_node<Call>(peek());
    call->callee = std::move(callee);
    call->args = parse_call_args();
    return seal(std::move(call));
  }

  // `| name(args) | ...`; with `start_inline` the first filter has no leading `|`.
  ExprPtr parse_filters(ExprPtr subject, bool start_inline) {
    while (is_op(peek(), "|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      auto filter = make_node<FilterExpr>(peek());
      filter->name = expect_name().text;
      while (skip_op(".")) filter->name += "." + expect_name().text;
      if (is_op(peek(), "(")) filter->args = parse_call_args();
      filter->subject = std::move(subject);
      subject = seal(std::move(filter));
    }
    return subject;
  }

  ExprPtr parse_test(ExprPtr subject) {
    const Token& at = next();  // 'is'
    const bool negated = skip_name("not");
    auto test = make_node<TestExpr>(at);
    test->name = expect_name().text;
    while (skip_op(".")) test->name += "." + expect_name().text;
    const Token& t = peek();
    if (is_op(t, "(")) {
      test->args = parse_call_args();
    } else if ((t.kind == TokenKind::kName || t.kind == TokenKind::kString ||
                t.kind == TokenKind::kInteger || t.kind == TokenKind::kFloat || is_op(t, "[") ||
                is_op(t, "{")) &&
               !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
      if (is_name(t, "is")) fail(t, "you cannot chain multiple tests with 'is'");
      test->args.positional.push_back(parse_postfix(parse_primary()));
    }
    test->subject = std::move(subject);
    if (!negated) return seal(std::move(test));
    auto negation = make_node<Unary>(at);
    negation->op = UnaryOp::kNot;
    negation->operand = seal(std::move(test));
    return seal(std::move(negation));
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      const Token& t = peek();
      if (is_op(t, "|")) {
        node = parse_filters(std::move(node), false);
      } else if (is_name(t, "is")) {
        node = parse_test(std::move(node));
      } else if (is_op(t, "(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<Token> open_blocks_;  // the tags of the blocks being parsed, for error messages
};

}  // namespace

Program parse_template(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace capibara::chat
