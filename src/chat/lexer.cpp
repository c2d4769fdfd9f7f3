// Lexer of the Jinja subset; mirrors the rules of Jinja 3.1's `jinja2.lexer` as configured by
// Hugging Face transformers (trim_blocks and lstrip_blocks on, default delimiters).
#include "chat/lexer.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "chat/template_error.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Python's `"\n".join(source.splitlines())`, which Jinja applies to every template: each line
// boundary becomes "\n" and one trailing line break is dropped (`keep_trailing_newline=False`).
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    const char c = source[i];
    if (c == '\r') {
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      out.push_back('\n');
    } else if (c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' || c == '\x1e') {
      out.push_back('\n');
    } else if (source.substr(i, 2) == "\xC2\x85") {
      out.push_back('\n');
      i += 1;
    } else if (source.substr(i, 3) == "\xE2\x80\xA8" || source.substr(i, 3) == "\xE2\x80\xA9") {
      out.push_back('\n');
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t at = find_tag_start(pos_);
      if (at == std::string::npos) {
        emit_text(pos_, src_.substr(pos_));
        break;
      }
      lex_tag(at);
    }
    Token end;
    end.kind = TokenKind::kEnd;
    set_position(end, src_.size());
    out_.push_back(std::move(end));
    return std::move(out_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    for (size_t at = src_.find('{', from); at != std::string::npos; at = src_.find('{', at + 1)) {
      if (at + 1 < src_.size()) {
        const char next = src_[at + 1];
        if (next == '{' || next == '%' || next == '#') return at;
      }
    }
    return std::string::npos;
  }

  [[noreturn]] void fail(size_t at, const std::string& message) const {
    int line = 0;
    int column = 0;
    position_of(at, line, column);
    throw TemplateError(TemplateError::Kind::kSyntax, message, line, column);
  }

  // Line and column of byte `at`. Tokens come in source order, so counting on from the last
  // position asked keeps this linear even on one very long line.
  void position_of(size_t at, int& line, int& column) const {
    if (at < cursor_at_) {
      const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), at);
      const auto line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
      cursor_at_ = line_starts_[line_index];
      cursor_line_ = static_cast<int>(line_index) + 1;
      cursor_column_ = 1;
    }
    for (; cursor_at_ < at; ++cursor_at_) {
      if (src_[cursor_at_] == '\n') {
        ++cursor_line_;
        cursor_column_ = 1;
      } else if ((src_[cursor_at_] & 0xC0) != 0x80) {
        ++cursor_column_;
      }
    }
    // A position inside a UTF-8 sequence counts as its first byte's column.
    line = cursor_line_;
    column = cursor_column_;
  }

  void set_position(Token& token, size_t at) const { position_of(at, token.line, token.column); }

  void emit_text(size_t at, std::string_view text) {
    if (text.empty()) return;
    Token token;
    token.kind = TokenKind::kText;
    token.text = std::string(text);
    set_position(token, at);
    out_.push_back(std::move(token));
  }

  void emit(TokenKind kind, size_t at, std::string text = {}) {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    set_position(token, at);
    out_.push_back(std::move(token));
  }

  // Applies `-` and `lstrip_blocks` to the text before a tag whose whitespace marker is `sign`.
  std::string_view strip_before_tag(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0 && is_ws(text[end - 1])) --end;
      return text.substr(0, end);
    }
    if (sign == '+' || is_variable) return text;
    // lstrip_blocks: drop spaces and tabs between the start of the line and the tag.
    const size_t newline = text.rfind('\n');
    const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    if (line_start == 0 && !line_starting_) return text;
    const std::string_view tail = text.substr(line_start);
    if (tail.empty() || !std::all_of(tail.begin(), tail.end(), is_ws)) return text;
    return text.substr(0, line_start);
  }

  // After `%}`, `#}` or their `-`/`+` forms at `at` (pointing at the marker or the `%`/`#`):
  // returns the position after the tag and any whitespace it swallows.
  size_t finish_block_end(size_t close_at, char sign) {
    size_t p = close_at + 2;  // past "%}" or "#}"
    if (sign == '-') {
      while (p < src_.size() && is_ws(src_[p])) ++p;
    } else if (sign != '+' && p < src_.size() && src_[p] == '\n') {
      ++p;  // trim_blocks
    }
    line_starting_ = p > 0 && src_[p - 1] == '\n';
    return p;
  }

  // Matches `{%[-+]? raw [-]?%}` at `at`; returns the position after it.
  std::optional<size_t> match_raw_begin(size_t at) const {
    size_t p = at + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return std::nullopt;
    p += 3;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "-%}") == 0) {
      p += 3;
      while (p < src_.size() && is_ws(src_[p])) ++p;
      return p;
    }
    if (src_.compare(p, 2, "%}") == 0) return p + 2;
    return std::nullopt;
  }

  void lex_tag(size_t at) {
    const char kind = src_[at + 1];
    const char sign = at + 2 < src_.size() ? src_[at + 2] : '\0';
    const std::optional<size_t> raw_end = kind == '%' ? match_raw_begin(at) : std::nullopt;
    emit_text(pos_,
              strip_before_tag(std::string_view(src_).substr(pos_, at - pos_), sign, kind == '{'));
    if (raw_end) {
      const size_t after = *raw_end;
      line_starting_ = after > 0 && src_[after - 1] == '\n';
      lex_raw_body(at, after);
      return;
    }
    if (kind == '#') {
      const size_t close = src_.find("#}", at + 2);
      if (close == std::string::npos) fail(at, "missing end of comment tag");
      const char close_sign = close > at + 2 ? src_[close - 1] : '\0';
      pos_ = finish_block_end(close, close_sign);
      return;
    }
    const bool is_block = kind == '%';
    emit(is_block ? TokenKind::kBlockBegin : TokenKind::kVariableBegin, at);
    pos_ = at + 2 + (sign == '-' || sign == '+' ? 1 : 0);
    line_starting_ = false;
    lex_tag_body(at, is_block);
  }

  void lex_raw_body(size_t tag_at, size_t body_at) {
    for (size_t p = src_.find("{%", body_at); p != std::string::npos; p = src_.find("{%", p + 1)) {
      size_t q = p + 2;
      const char sign = q < src_.size() ? src_[q] : '\0';
      if (sign == '-' || sign == '+') ++q;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      char close_sign = '\0';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) close_sign = src_[q++];
      if (src_.compare(q, 2, "%}") != 0) continue;
      emit_text(body_at,
                strip_before_tag(std::string_view(src_).substr(body_at, p - body_at), sign, false));
      pos_ = finish_block_end(q, close_sign);
      return;
    }
    fail(tag_at, "missing end of raw directive");
  }

  void lex_tag_body(size_t tag_at, bool is_block) {
    std::vector<char> brackets;
    while (true) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) {
        fail(tag_at, is_block ? "unexpected end of template: missing '%}'"
                              : "unexpected end of template: missing '}}'");
      }
      if (brackets.empty() && lex_tag_end(is_block)) return;
      lex_expression_token(brackets);
    }
  }

  bool lex_tag_end(bool is_block) {
    const char close = is_block ? '%' : '}';
    char sign = '\0';
    size_t p = pos_;
    if (src_[p] == '-' || src_[p] == '+') sign = src_[p++];
    if (src_.compare(p, 2, std::string{close, '}'}) != 0) return false;
    if (sign == '+' && !is_block) return false;  // `+}}` is not a variable end
    emit(is_block ? TokenKind::kBlockEnd : TokenKind::kVariableEnd, pos_);
    if (is_block) {
      pos_ = finish_block_end(p, sign);
    } else {
      pos_ = p + 2;
      if (sign == '-') {
        while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
      }
      line_starting_ = src_[pos_ - 1] == '\n';
    }
    return true;
  }

  void lex_expression_token(std::vector<char>& brackets) {
    const size_t start = pos_;
    const char c = src_[pos_];
    if (is_digit(c)) {
      lex_number();
      return;
    }
    if (is_name_start(c)) {
      size_t end = pos_;
      while (end < src_.size() && is_name_char(src_[end])) ++end;
      emit(TokenKind::kName, start, src_.substr(start, end - start));
      pos_ = end;
      return;
    }
    if (c == '\'' || c == '"') {
      lex_string();
      return;
    }
    static constexpr std::string_view kTwoCharOperators[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const std::string_view op : kTwoCharOperators) {
      if (src_.compare(pos_, 2, op) == 0) {
        emit(TokenKind::kOperator, start, std::string(op));
        pos_ += 2;
        return;
      }
    }
    static constexpr std::string_view kOneCharOperators = "+-/*%~[](){}<>=.:|,;";
    if (kOneCharOperators.find(c) == std::string_view::npos) {
      std::string shown;
      text::append_code_point(shown, text::decode(std::string_view(src_).substr(pos_, 4))[0]);
      fail(start, "unexpected char '" + shown + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) fail(start, std::string("unexpected '") + c + "'");
      if (brackets.back() != c) {
        fail(start, std::string("unexpected '") + c + "', expected '" + brackets.back() + "'");
      }
      brackets.pop_back();
    }
    emit(TokenKind::kOperator, start, std::string(1, c));
    ++pos_;
  }

  // Digits with optional `_` separators from `p`; returns the end.
  size_t scan_digits(size_t p) const {
    while (p < src_.size() && (is_digit(src_[p]) ||
                               (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])))) {
      ++p;
    }
    return p;
  }

  void lex_number() {
    const size_t start = pos_;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() &&
        std::string_view("xXoObB").find(src_[pos_ + 1]) != std::string_view::npos) {
      const char base_char = static_cast<char>(src_[pos_ + 1] | 0x20);
      const int base = base_char == 'x' ? 16 : (base_char == 'o' ? 8 : 2);
      size_t p = pos_ + 2;
      std::string digits;
      while (p < src_.size() &&
             (std::isxdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) {
        if (src_[p] != '_') digits.push_back(src_[p]);
        ++p;
      }
      errno = 0;
      char* end = nullptr;
      const long long v = digits.empty() ? 0 : std::strtoll(digits.c_str(), &end, base);
      if (digits.empty() || errno != 0 || *end != '\0') fail(start, "invalid integer literal");
      Token& token = push_number(TokenKind::kInteger, start);
      token.int_value = v;
      pos_ = p;
      return;
    }
    size_t p = scan_digits(pos_);
    bool is_float = false;
    // A fraction needs a digit after the point: `foo.0.1` style attribute chains stay integers.
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    if (!after_dot && p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
      p = scan_digits(p + 1);
      is_float = true;
    }
    if (!after_dot && p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && is_digit(src_[q])) {
        p = scan_digits(q);
        is_float = true;
      }
    }
    std::string literal;
    for (size_t i = start; i < p; ++i) {
      if (src_[i] != '_') literal.push_back(src_[i]);
    }
    pos_ = p;
    if (is_float) {
      Token& token = push_number(TokenKind::kFloat, start);
      token.float_value = std::strtod(literal.c_str(), nullptr);
      return;
    }
    errno = 0;
    const long long v = std::strtoll(literal.c_str(), nullptr, 10);
    if (errno != 0) fail(start, "integer literal too large: " + literal);
    Token& token = push_number(TokenKind::kInteger, start);
    token.int_value = v;
  }

  Token& push_number(TokenKind kind, size_t at) {
    emit(kind, at, src_.substr(at, pos_ > at ? pos_ - at : 0));
    return out_.back();
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Python's "unicode-escape" decoding of a string literal's body.
  void lex_string() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::u32string value;
    std::string pending_bytes;  // raw UTF-8 between escapes
    const auto flush = [&] {
      const std::u32string cps = text::decode(pending_bytes);
      value += cps;
      pending_bytes.clear();
    };
    while (true) {
      if (pos_ >= src_.size()) fail(start, "unterminated string literal");
      const char c = src_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        pending_bytes.push_back(c);
        ++pos_;
        continue;
      }
      flush();
      if (pos_ + 1 >= src_.size()) fail(start, "unterminated string literal");
      const char e = src_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
        case '\'':
        case '"':
          value.push_back(static_cast<char32_t>(e));
          break;
        case 'a':
          value.push_back(0x07);
          break;
        case 'b':
          value.push_back(0x08);
          break;
        case 'f':
          value.push_back(0x0C);
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back(0x0B);
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          char32_t code = 0;
          for (int i = 0; i < digits; ++i) {
            const int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
            if (h < 0) fail(start, std::string("truncated \\") + e + " escape in string literal");
            code = code * 16 + static_cast<char32_t>(h);
            ++pos_;
          }
          if (code > 0x10FFFF) fail(start, "illegal Unicode character in string literal");
          // Join a surrogate pair written as two \u escapes.
          if (code >= 0xDC00 && code <= 0xDFFF && !value.empty() && value.back() >= 0xD800 &&
              value.back() <= 0xDBFF) {
            value.back() = 0x10000 + ((value.back() - 0xD800) << 10) + (code - 0xDC00);
          } else {
            value.push_back(code);
          }
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t code = static_cast<char32_t>(e - '0');
            for (int i = 0; i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                 ++i) {
              code = code * 8 + static_cast<char32_t>(src_[pos_++] - '0');
            }
            value.push_back(code);
          } else {
            value.push_back('\\');  // unknown escapes stay as written
            pos_ -= 1;
          }
      }
    }
    flush();
    emit(TokenKind::kString, start, text::encode(value));
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;
  // `position_of`'s memory: the last byte asked and its line and column.
  mutable size_t cursor_at_ = 0;
  mutable int cursor_line_ = 1;
  mutable int cursor_column_ = 1;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kText:
      return "template text";
    case TokenKind::kVariableBegin:
      return "'{{'";
    case TokenKind::kVariableEnd:
      return "end of print statement";
    case TokenKind::kBlockBegin:
      return "'{%'";
    case TokenKind::kBlockEnd:
      return "end of statement block";
    case TokenKind::kString:
      return "string literal";
    case TokenKind::kInteger:
    case TokenKind::kFloat:
      return "number " + token.text;
    case TokenKind::kEnd:
      return "end of template";
    default:
      return "'" + token.text + "'";
  }
}

}  // namespace capibara::chat
