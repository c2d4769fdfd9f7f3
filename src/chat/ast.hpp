// The syntax tree of a parsed template: expressions and statements, each with its source
// position. Built once by `parser.hpp`, then only read (shared by concurrent renders).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.hpp"

namespace capibara::chat {

struct Node {
  int line = 0;
  int column = 0;
};

struct Expr : Node {
  enum class Kind {
    kLiteral,      // Literal
    kName,         // NameRef
    kList,         // ListExpr (lists and tuples)
    kDict,         // DictExpr
    kUnary,        // Unary
    kBinary,       // Binary
    kCompare,      // Compare
    kConditional,  // Conditional
    kGetAttr,      // GetAttr
    kGetItem,      // GetItem
    kSlice,        // Slice (only as the index of a GetItem)
    kCall,         // Call
    kFilter,       // FilterExpr
    kTest,         // TestExpr
  };
  explicit Expr(Kind k) : kind(k) {}
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  virtual ~Expr() = default;
  const Kind kind;
  int height = 1;  // levels of the subtree; the parser bounds it so evaluation cannot overflow
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;    // *args (optional)
  ExprPtr star_kwargs;  // **kwargs (optional)
};

struct Literal : Expr {
  Literal() : Expr(Kind::kLiteral) {}
  Value value;  // a scalar: None, bool, int, float or string
};

struct NameRef : Expr {
  NameRef() : Expr(Kind::kName) {}
  std::string name;
};

struct ListExpr : Expr {
  ListExpr() : Expr(Kind::kList) {}
  std::vector<ExprPtr> items;
  bool is_tuple = false;
};

struct DictExpr : Expr {
  DictExpr() : Expr(Kind::kDict) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

enum class UnaryOp { kNot, kNegate, kPlus };

struct Unary : Expr {
  Unary() : Expr(Kind::kUnary) {}
  UnaryOp op = UnaryOp::kNot;
  ExprPtr operand;
};

enum class BinaryOp {
  kAnd,
  kOr,
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kFloorDivide,
  kModulo,
  kPower,
  kConcat,  // ~
};

struct Binary : Expr {
  Binary() : Expr(Kind::kBinary) {}
  BinaryOp op = BinaryOp::kAdd;
  ExprPtr left;
  ExprPtr right;
};

enum class CompareOp { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kIn, kNotIn };

// `a < b <= c` chains like Python: every link must hold.
struct Compare : Expr {
  Compare() : Expr(Kind::kCompare) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

// `then_value if condition else else_value`; a missing `else` yields undefined.
struct Conditional : Expr {
  Conditional() : Expr(Kind::kConditional) {}
  ExprPtr condition;
  ExprPtr then_value;
  ExprPtr else_value;  // may be null
};

struct GetAttr : Expr {
  GetAttr() : Expr(Kind::kGetAttr) {}
  ExprPtr object;
  std::string name;
};

struct GetItem : Expr {
  GetItem() : Expr(Kind::kGetItem) {}
  ExprPtr object;
  ExprPtr index;  // an expression or a Slice
};

struct Slice : Expr {
  Slice() : Expr(Kind::kSlice) {}
  ExprPtr start;  // each may be null
  ExprPtr stop;
  ExprPtr step;
};

struct Call : Expr {
  Call() : Expr(Kind::kCall) {}
  ExprPtr callee;
  Arguments args;
};

struct FilterExpr : Expr {
  FilterExpr() : Expr(Kind::kFilter) {}
  ExprPtr subject;  // null inside `{% filter %}` and `{% set x | f %}` chains: the block's text
  std::string name;
  Arguments args;
};

struct TestExpr : Expr {
  TestExpr() : Expr(Kind::kTest) {}
  ExprPtr subject;
  std::string name;
  Arguments args;
};

// The left side of `set`, `for` and `with`: one name, several (tuple unpacking), or
// `namespace.attribute`.
struct Target {
  std::vector<std::string> names;
  bool is_tuple = false;
  std::string attribute;  // non-empty for `ns.attr`; then `names` holds just `ns`
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt : Node {
  enum class Kind {
    kText,         // TextStmt
    kOutput,       // OutputStmt: {{ expr }}
    kIf,           // IfStmt
    kFor,          // ForStmt
    kSet,          // SetStmt
    kSetBlock,     // SetBlockStmt
    kMacro,        // MacroStmt
    kCallBlock,    // CallBlockStmt
    kFilterBlock,  // FilterBlockStmt
    kWith,         // WithStmt
    kBreak,
    kContinue,
    kScope,  // ScopeStmt: a body run as is (`{% generation %}` of Hugging Face)
  };
  explicit Stmt(Kind k) : kind(k) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  virtual ~Stmt() = default;
  const Kind kind;
};

struct TextStmt : Stmt {
  TextStmt() : Stmt(Kind::kText) {}
  std::string text;
};

struct OutputStmt : Stmt {
  OutputStmt() : Stmt(Kind::kOutput) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  IfStmt() : Stmt(Kind::kIf) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // `if` then each `elif`
  Body else_body;
};

struct ForStmt : Stmt {
  ForStmt() : Stmt(Kind::kFor) {}
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  Body body;
  Body else_body;  // runs when no item was iterated
  bool recursive = false;
};

struct SetStmt : Stmt {
  SetStmt() : Stmt(Kind::kSet) {}
  Target target;
  ExprPtr value;
};

// `{% set x | filters %}body{% endset %}`: `filter` is a FilterExpr chain with a null innermost
// subject, or null.
struct SetBlockStmt : Stmt {
  SetBlockStmt() : Stmt(Kind::kSetBlock) {}
  Target target;
  ExprPtr filter;
  Body body;
};

struct Parameter {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct MacroStmt : Stmt {
  MacroStmt() : Stmt(Kind::kMacro) {}
  std::string name;
  std::vector<Parameter> params;
  Body body;
};

// `{% call(params) macro(args) %}body{% endcall %}`: `body` becomes the macro's `caller()`.
struct CallBlockStmt : Stmt {
  CallBlockStmt() : Stmt(Kind::kCallBlock) {}
  std::vector<Parameter> params;
  ExprPtr call;  // a Call
  Body body;
};

struct FilterBlockStmt : Stmt {
  FilterBlockStmt() : Stmt(Kind::kFilterBlock) {}
  ExprPtr filter;  // a FilterExpr chain with a null innermost subject
  Body body;
};

struct WithStmt : Stmt {
  WithStmt() : Stmt(Kind::kWith) {}
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
};

struct ScopeStmt : Stmt {
  ScopeStmt() : Stmt(Kind::kScope) {}
  Body body;
};

struct LoopControlStmt : Stmt {
  explicit LoopControlStmt(Kind k) : Stmt(k) {}
};

struct Program {
  Body body;
};

// 1 + the largest `height` among the node's direct children (which must be set already).
int compute_height(const Expr& node);

}  // namespace capibara::chat
