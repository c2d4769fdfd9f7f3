// Python `str` semantics over UTF-8 strings: code points, `isspace`, case mapping, and the
// string methods that chat templates call (`strip`, `split`, `replace`, `title`, ...).
//
// Strings stay UTF-8 `std::string`s; functions that index by character decode to code points.
// Bytes that are not valid UTF-8 decode to U+DC80..U+DCFF and encode back to the same byte
// (Python's "surrogateescape"), so no input is ever lost.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace capibara::chat::text {

std::u32string decode(std::string_view utf8);
std::string encode(std::u32string_view code_points);
void append_code_point(std::string& out, char32_t c);
// Number of code points (Python's `len(s)`).
size_t length(std::string_view utf8);

bool is_space(char32_t c);  // Python's `str.isspace` for one character
bool is_cased(char32_t c);  // has an upper or lower case form
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // Python's `str.capitalize`
std::string title(std::string_view s);       // Python's `str.title`

// `str.strip` / `lstrip` / `rstrip`: `chars` absent strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);
// `str.split(sep, maxsplit)`; no `sep` splits on runs of whitespace and drops empty parts.
// Throws `TemplateError` for an empty separator.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t maxsplit);
// `str.splitlines(keepends)`, with Python's set of line boundaries.
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// `str.replace(old, new, count)`; `count` < 0 replaces all. An empty `old` inserts `new` between
// characters, as Python does.
std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    int64_t count);
// `str.count(sub)` (non-overlapping).
int64_t count(std::string_view s, std::string_view sub);
// `str.find` / `rfind`, in code points; -1 when absent.
int64_t find(std::string_view s, std::string_view sub, bool reverse);

}  // namespace capibara::chat::text
