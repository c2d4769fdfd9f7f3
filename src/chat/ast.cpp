// Syntax-tree helpers.
#include "chat/ast.hpp"

#include <algorithm>

namespace capibara::chat {

int compute_height(const Expr& node) {
  int h = 0;
  const auto see = [&h](const ExprPtr& e) {
    if (e) h = std::max(h, e->height);
  };
  const auto see_args = [&](const Arguments& args) {
    for (const auto& e : args.positional) see(e);
    for (const auto& [name, e] : args.keyword) see(e);
    see(args.star_args);
    see(args.star_kwargs);
  };
  switch (node.kind) {
    case Expr::Kind::kLiteral:
    case Expr::Kind::kName:
      break;
    case Expr::Kind::kList:
      for (const auto& e : static_cast<const ListExpr&>(node).items) see(e);
      break;
    case Expr::Kind::kDict:
      for (const auto& [k, v] : static_cast<const DictExpr&>(node).items) {
        see(k);
        see(v);
      }
      break;
    case Expr::Kind::kUnary:
      see(static_cast<const Unary&>(node).operand);
      break;
    case Expr::Kind::kBinary:
      see(static_cast<const Binary&>(node).left);
      see(static_cast<const Binary&>(node).right);
      break;
    case Expr::Kind::kCompare:
      see(static_cast<const Compare&>(node).first);
      for (const auto& [op, e] : static_cast<const Compare&>(node).rest) see(e);
      break;
    case Expr::Kind::kConditional: {
      const auto& c = static_cast<const Conditional&>(node);
      see(c.condition);
      see(c.then_value);
      see(c.else_value);
      break;
    }
    case Expr::Kind::kGetAttr:
      see(static_cast<const GetAttr&>(node).object);
      break;
    case Expr::Kind::kGetItem:
      see(static_cast<const GetItem&>(node).object);
      see(static_cast<const GetItem&>(node).index);
      break;
    case Expr::Kind::kSlice: {
      const auto& s = static_cast<const Slice&>(node);
      see(s.start);
      see(s.stop);
      see(s.step);
      break;
    }
    case Expr::Kind::kCall:
      see(static_cast<const Call&>(node).callee);
      see_args(static_cast<const Call&>(node).args);
      break;
    case Expr::Kind::kFilter:
      see(static_cast<const FilterExpr&>(node).subject);
      see_args(static_cast<const FilterExpr&>(node).args);
      break;
    case Expr::Kind::kTest:
      see(static_cast<const TestExpr&>(node).subject);
      see_args(static_cast<const TestExpr&>(node).args);
      break;
  }
  return h + 1;
}

}  // namespace capibara::chat
