// The BPE pre-tokenizers against llama.cpp's regexes. The expected word lengths (in code points)
// were computed with Python's `regex` module running each model's list of llama.cpp regexes,
// with `\s` spelled as llama.cpp's White_Space set and the DeepSeek explicit ranges matched after
// llama.cpp's std::wregex whitespace substitution; a random differential run of 20,000 strings
// per pre-tokenizer agreed before these were frozen.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tokenizer/bpe_pretokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace capibara {
namespace {

struct PreTokenizerCase {
  const char* pre;
  const char* text;
  std::vector<uint32_t> word_lengths;
};

// clang-format off
const PreTokenizerCase kCases[] = {
    {"default", "Hello world", {5, 6}},
    {"default", "I'm here, they'LL see; DON'T", {1, 1, 1, 5, 1, 5, 1, 2, 4, 1, 4, 1, 1}},
    {"default", "it's 'quoted' 'S", {2, 1, 1, 1, 1, 6, 1, 1, 1, 1}},
    {"default", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"default", "tab\x09sep\x09\x09x", {3, 1, 3, 1, 1, 1}},
    {"default", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 1, 1, 4, 1, 4, 1, 3}},
    {"default", "12345678 3.14159 1,000", {3, 3, 2, 1, 1, 1, 3, 2, 1, 1, 1, 3}},
    {"default", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 2, 1, 1}},
    {"default", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 3, 2, 1, 1, 1, 3, 1, 1, 2}},
    {"default", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"default", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 4, 4}},
    {"default", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"default", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 1, 1, 2, 1, 1, 2, 1, 1}},
    {"default", "word.\x0A", {4, 1, 1}},
    {"default", " ?! ...", {1, 2, 1, 3}},
    {"default", "hello  \x0A  world  ", {5, 4, 6, 2}},
    {"default", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {3, 1, 2, 1, 1}},
    {"default", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 1, 1, 1, 1, 1, 2}},
    {"default", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"default", "   ", {3}},
    {"default", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {3, 4, 1, 3, 3}},
    {"default", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {3, 2, 1, 1, 1, 1, 1, 2, 1, 1}},
    {"default", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 1, 1, 1, 1}},
    {"default", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 1, 1, 1, 1, 1, 1, 3, 1, 2, 1}},
    {"default", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3}},
    {"default", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {3, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1}},
    {"default", "6", {1}},
    {"default", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 1, 3}},
    {"default", "\xC2\xB7" "d", {1, 1}},
    {"default", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {1, 2, 1, 1, 2, 1, 2, 1, 1, 1}},
    {"default", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1}},
    {"default", "5", {1}},
    {"default", "\xF0\x90\x91\x8E", {1}},
    {"default", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {1, 1, 1, 1, 1, 1, 1, 1, 4, 3, 1}},
    {"default", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 1, 1, 2, 1, 1, 2, 2}},
    {"default", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 1, 1}},
    {"default", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {2, 1, 1, 1, 1, 2, 2, 1}},
    {"default", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"default", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 3, 1}},
    {"default", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {1, 1, 1, 2, 1}},
    {"default", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 2}},
    {"gpt-2", "Hello world", {5, 6}},
    {"gpt-2", "I'm here, they'LL see; DON'T", {1, 2, 5, 1, 5, 1, 2, 4, 1, 4, 1, 1}},
    {"gpt-2", "it's 'quoted' 'S", {2, 2, 2, 6, 1, 2, 1}},
    {"gpt-2", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"gpt-2", "tab\x09sep\x09\x09x", {3, 1, 3, 1, 1, 1}},
    {"gpt-2", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 1, 1, 4, 1, 4, 1, 3}},
    {"gpt-2", "12345678 3.14159 1,000", {8, 2, 1, 5, 2, 1, 3}},
    {"gpt-2", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 3, 1}},
    {"gpt-2", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 3, 2, 1, 2, 3, 2, 2}},
    {"gpt-2", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"gpt-2", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 4, 4}},
    {"gpt-2", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"gpt-2", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 1, 1, 2, 1, 1, 2, 1, 1}},
    {"gpt-2", "word.\x0A", {4, 1, 1}},
    {"gpt-2", " ?! ...", {3, 4}},
    {"gpt-2", "hello  \x0A  world  ", {5, 4, 6, 2}},
    {"gpt-2", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {3, 3, 2}},
    {"gpt-2", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 2, 1, 1, 3}},
    {"gpt-2", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"gpt-2", "   ", {3}},
    {"gpt-2", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {3, 4, 1, 3, 3}},
    {"gpt-2", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {3, 2, 1, 1, 1, 1, 3, 1, 1}},
    {"gpt-2", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 1, 1, 2}},
    {"gpt-2", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 1, 1, 1, 1, 1, 1, 3, 1, 2, 1}},
    {"gpt-2", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 1, 1, 1, 2, 1, 1, 3}},
    {"gpt-2", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {3, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1}},
    {"gpt-2", "6", {1}},
    {"gpt-2", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 1, 3}},
    {"gpt-2", "\xC2\xB7" "d", {1, 1}},
    {"gpt-2", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {1, 2, 2, 3, 2, 2, 1}},
    {"gpt-2", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 2, 1, 1, 3}},
    {"gpt-2", "5", {1}},
    {"gpt-2", "\xF0\x90\x91\x8E", {1}},
    {"gpt-2", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {1, 1, 2, 1, 1, 1, 5, 3, 1}},
    {"gpt-2", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 5, 1, 2, 2}},
    {"gpt-2", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 2}},
    {"gpt-2", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {2, 1, 1, 1, 1, 2, 2, 1}},
    {"gpt-2", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"gpt-2", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 4}},
    {"gpt-2", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {1, 1, 1, 2, 1}},
    {"gpt-2", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 2}},
    {"llama-bpe", "Hello world", {5, 6}},
    {"llama-bpe", "I'm here, they'LL see; DON'T", {1, 2, 5, 1, 5, 3, 4, 1, 4, 2}},
    {"llama-bpe", "it's 'quoted' 'S", {2, 2, 2, 6, 1, 2, 1}},
    {"llama-bpe", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"llama-bpe", "tab\x09sep\x09\x09x", {3, 4, 1, 2}},
    {"llama-bpe", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 2, 4, 1, 5, 3}},
    {"llama-bpe", "12345678 3.14159 1,000", {3, 3, 2, 1, 1, 1, 3, 2, 1, 1, 1, 3}},
    {"llama-bpe", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 2, 3, 1}},
    {"llama-bpe", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 3, 2, 1, 2, 3, 2, 2}},
    {"llama-bpe", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"llama-bpe", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 4, 4}},
    {"llama-bpe", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"llama-bpe", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 2, 2, 2, 2, 2}},
    {"llama-bpe", "word.\x0A", {4, 2}},
    {"llama-bpe", " ?! ...", {3, 4}},
    {"llama-bpe", "hello  \x0A  world  ", {5, 3, 1, 6, 2}},
    {"llama-bpe", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {3, 1, 2, 1, 1}},
    {"llama-bpe", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 2, 1, 1, 3}},
    {"llama-bpe", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"llama-bpe", "   ", {3}},
    {"llama-bpe", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {3, 4, 4, 3}},
    {"llama-bpe", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {3, 2, 1, 1, 1, 1, 3, 1, 1}},
    {"llama-bpe", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 2, 2}},
    {"llama-bpe", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 1, 1, 1, 2, 4, 3, 1}},
    {"llama-bpe", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 2, 1, 3, 1, 3}},
    {"llama-bpe", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {3, 1, 1, 1, 2, 2, 1, 2, 1, 1, 2}},
    {"llama-bpe", "6", {1}},
    {"llama-bpe", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 4}},
    {"llama-bpe", "\xC2\xB7" "d", {2}},
    {"llama-bpe", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {3, 2, 3, 2, 2, 1}},
    {"llama-bpe", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 3}},
    {"llama-bpe", "5", {1}},
    {"llama-bpe", "\xF0\x90\x91\x8E", {1}},
    {"llama-bpe", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {2, 2, 1, 2, 5, 3, 1}},
    {"llama-bpe", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 5, 1, 2, 2}},
    {"llama-bpe", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 2}},
    {"llama-bpe", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {2, 1, 1, 2, 2, 2, 1}},
    {"llama-bpe", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 3, 2, 1, 2, 2, 2, 1}},
    {"llama-bpe", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 2, 1, 1, 3, 1, 4}},
    {"llama-bpe", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {2, 3, 1}},
    {"llama-bpe", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 2}},
    {"qwen2", "Hello world", {5, 6}},
    {"qwen2", "I'm here, they'LL see; DON'T", {1, 2, 5, 1, 5, 3, 4, 1, 4, 2}},
    {"qwen2", "it's 'quoted' 'S", {2, 2, 2, 6, 1, 2, 1}},
    {"qwen2", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"qwen2", "tab\x09sep\x09\x09x", {3, 4, 1, 2}},
    {"qwen2", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 2, 4, 1, 5, 3}},
    {"qwen2", "12345678 3.14159 1,000", {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"qwen2", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 2, 3, 1}},
    {"qwen2", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 1, 1, 1, 2, 1, 2, 3, 2, 2}},
    {"qwen2", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"qwen2", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 4, 4}},
    {"qwen2", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"qwen2", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 2, 2, 2, 2, 2}},
    {"qwen2", "word.\x0A", {4, 2}},
    {"qwen2", " ?! ...", {3, 4}},
    {"qwen2", "hello  \x0A  world  ", {5, 3, 1, 6, 2}},
    {"qwen2", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {1, 1, 1, 1, 1, 1, 1, 1}},
    {"qwen2", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 2, 1, 1, 3}},
    {"qwen2", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"qwen2", "   ", {3}},
    {"qwen2", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {3, 4, 4, 3}},
    {"qwen2", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {3, 2, 1, 1, 1, 1, 3, 1, 1}},
    {"qwen2", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 2, 2}},
    {"qwen2", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 1, 1, 1, 2, 4, 3, 1}},
    {"qwen2", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 2, 1, 3, 1, 3}},
    {"qwen2", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {3, 1, 1, 1, 2, 2, 1, 2, 1, 1, 2}},
    {"qwen2", "6", {1}},
    {"qwen2", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 4}},
    {"qwen2", "\xC2\xB7" "d", {2}},
    {"qwen2", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {3, 2, 3, 2, 2, 1}},
    {"qwen2", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 2, 2, 1, 1, 1, 2, 2, 1, 1, 1, 1, 3}},
    {"qwen2", "5", {1}},
    {"qwen2", "\xF0\x90\x91\x8E", {1}},
    {"qwen2", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {2, 2, 1, 2, 5, 3, 1}},
    {"qwen2", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 5, 1, 2, 2}},
    {"qwen2", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 2}},
    {"qwen2", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {2, 1, 1, 2, 2, 2, 1}},
    {"qwen2", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 3, 2, 1, 2, 2, 2, 1}},
    {"qwen2", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 2, 1, 1, 3, 1, 4}},
    {"qwen2", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {2, 3, 1}},
    {"qwen2", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 2}},
    {"deepseek-llm", "Hello world", {5, 6}},
    {"deepseek-llm", "I'm here, they'LL see; DON'T", {1, 1, 1, 5, 1, 5, 1, 2, 4, 1, 4, 1, 1}},
    {"deepseek-llm", "it's 'quoted' 'S", {2, 1, 1, 2, 6, 1, 2, 1}},
    {"deepseek-llm", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"deepseek-llm", "tab\x09sep\x09\x09x", {3, 4, 1, 2}},
    {"deepseek-llm", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 1, 1, 4, 1, 1, 1, 2, 1, 3}},
    {"deepseek-llm", "12345678 3.14159 1,000", {8, 1, 1, 1, 5, 1, 1, 1, 3}},
    {"deepseek-llm", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 3, 1}},
    {"deepseek-llm", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 3, 1, 1, 1, 2, 3, 2, 2}},
    {"deepseek-llm", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"deepseek-llm", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 1, 3, 1, 3}},
    {"deepseek-llm", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {1, 4, 2, 1, 1, 2, 3, 1, 2}},
    {"deepseek-llm", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 2, 2, 2, 2, 2}},
    {"deepseek-llm", "word.\x0A", {4, 1, 1}},
    {"deepseek-llm", " ?! ...", {3, 4}},
    {"deepseek-llm", "hello  \x0A  world  ", {5, 2, 1, 1, 6, 2}},
    {"deepseek-llm", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {3, 1, 2, 1, 1}},
    {"deepseek-llm", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 1, 1, 1, 1, 1, 2}},
    {"deepseek-llm", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"deepseek-llm", "   ", {3}},
    {"deepseek-llm", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {1, 2, 1, 3, 1, 4, 1, 1}},
    {"deepseek-llm", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1}},
    {"deepseek-llm", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {1, 1, 1, 1, 1, 2, 1, 2, 2, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "6", {1}},
    {"deepseek-llm", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 1, 1, 2}},
    {"deepseek-llm", "\xC2\xB7" "d", {1, 1}},
    {"deepseek-llm", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {1, 1, 1, 1, 3, 1, 2, 1, 2}},
    {"deepseek-llm", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 1, 1, 2, 1, 1, 2, 1, 2, 2, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "5", {1}},
    {"deepseek-llm", "\xF0\x90\x91\x8E", {1}},
    {"deepseek-llm", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {1, 1, 2, 2, 1, 1, 1, 3, 1, 1, 1, 1}},
    {"deepseek-llm", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 1, 2, 1, 1, 1, 2, 2}},
    {"deepseek-llm", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {1, 1, 1, 1, 2, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-llm", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 1}},
    {"deepseek-llm", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {1, 1, 1, 2, 1}},
    {"deepseek-llm", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 1, 1}},
    {"deepseek-coder", "Hello world", {5, 6}},
    {"deepseek-coder", "I'm here, they'LL see; DON'T", {1, 1, 1, 5, 1, 5, 1, 2, 4, 1, 4, 1, 1}},
    {"deepseek-coder", "it's 'quoted' 'S", {2, 1, 1, 2, 6, 1, 2, 1}},
    {"deepseek-coder", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"deepseek-coder", "tab\x09sep\x09\x09x", {3, 4, 1, 2}},
    {"deepseek-coder", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 1, 1, 4, 1, 1, 1, 2, 1, 3}},
    {"deepseek-coder", "12345678 3.14159 1,000", {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 3, 1}},
    {"deepseek-coder", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 1, 1, 1, 1, 1, 1, 2, 3, 2, 2}},
    {"deepseek-coder", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"deepseek-coder", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 1, 3, 1, 3}},
    {"deepseek-coder", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"deepseek-coder", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 2, 2, 2, 2, 2}},
    {"deepseek-coder", "word.\x0A", {4, 1, 1}},
    {"deepseek-coder", " ?! ...", {3, 4}},
    {"deepseek-coder", "hello  \x0A  world  ", {5, 2, 1, 1, 6, 2}},
    {"deepseek-coder", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 1, 1, 1, 1, 1, 2}},
    {"deepseek-coder", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"deepseek-coder", "   ", {3}},
    {"deepseek-coder", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {1, 2, 1, 3, 1, 3, 1, 1, 1}},
    {"deepseek-coder", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 1}},
    {"deepseek-coder", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {1, 2, 1, 3, 1, 2, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "6", {1}},
    {"deepseek-coder", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 1, 3}},
    {"deepseek-coder", "\xC2\xB7" "d", {1, 1}},
    {"deepseek-coder", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {1, 1, 1, 4, 1, 2, 1, 1, 1}},
    {"deepseek-coder", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "5", {1}},
    {"deepseek-coder", "\xF0\x90\x91\x8E", {1}},
    {"deepseek-coder", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {1, 1, 2, 2, 1, 1, 1, 3, 1, 1, 1, 1}},
    {"deepseek-coder", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 1, 1, 2, 1, 1, 2, 2}},
    {"deepseek-coder", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {1, 1, 1, 1, 2, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"deepseek-coder", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1}},
    {"deepseek-coder", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {1, 1, 1, 2, 1}},
    {"deepseek-coder", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 1, 1}},
    {"falcon", "Hello world", {5, 6}},
    {"falcon", "I'm here, they'LL see; DON'T", {1, 1, 1, 5, 1, 5, 1, 2, 4, 1, 4, 1, 1}},
    {"falcon", "it's 'quoted' 'S", {2, 1, 1, 1, 1, 6, 1, 1, 1, 1}},
    {"falcon", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"falcon", "tab\x09sep\x09\x09x", {3, 1, 3, 1, 1, 1}},
    {"falcon", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 1, 1, 4, 1, 4, 1, 3}},
    {"falcon", "12345678 3.14159 1,000", {3, 3, 2, 2, 1, 3, 2, 2, 1, 3}},
    {"falcon", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 3, 1}},
    {"falcon", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 3, 2, 1, 1, 1, 3, 1, 1, 2}},
    {"falcon", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"falcon", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 4, 4}},
    {"falcon", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"falcon", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 1, 1, 2, 1, 1, 2, 1, 1}},
    {"falcon", "word.\x0A", {4, 1, 1}},
    {"falcon", " ?! ...", {1, 2, 1, 3}},
    {"falcon", "hello  \x0A  world  ", {5, 4, 6, 2}},
    {"falcon", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {3, 3, 2}},
    {"falcon", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 1, 1, 1, 1, 1, 2}},
    {"falcon", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"falcon", "   ", {3}},
    {"falcon", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {3, 4, 1, 3, 3}},
    {"falcon", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {3, 2, 1, 1, 1, 1, 1, 2, 1, 1}},
    {"falcon", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 1, 1, 1, 1}},
    {"falcon", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 1, 1, 1, 1, 1, 1, 3, 1, 2, 1}},
    {"falcon", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3}},
    {"falcon", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {3, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1}},
    {"falcon", "6", {1}},
    {"falcon", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 1, 3}},
    {"falcon", "\xC2\xB7" "d", {1, 1}},
    {"falcon", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {1, 2, 1, 1, 2, 1, 2, 1, 1, 1}},
    {"falcon", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1}},
    {"falcon", "5", {1}},
    {"falcon", "\xF0\x90\x91\x8E", {1}},
    {"falcon", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {1, 1, 1, 1, 1, 1, 1, 1, 4, 3, 1}},
    {"falcon", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 1, 1, 2, 1, 1, 2, 2}},
    {"falcon", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 1, 1}},
    {"falcon", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {2, 1, 1, 1, 1, 2, 2, 1}},
    {"falcon", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"falcon", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 3, 1}},
    {"falcon", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {1, 1, 1, 2, 1}},
    {"falcon", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 2}},
    {"starcoder", "Hello world", {5, 6}},
    {"starcoder", "I'm here, they'LL see; DON'T", {1, 2, 5, 1, 5, 1, 2, 4, 1, 4, 1, 1}},
    {"starcoder", "it's 'quoted' 'S", {2, 2, 2, 6, 1, 2, 1}},
    {"starcoder", "  multiple   spaces  ", {1, 9, 2, 7, 2}},
    {"starcoder", "tab\x09sep\x09\x09x", {3, 1, 3, 1, 1, 1}},
    {"starcoder", "line1\x0D\x0Aline2\x0A\x0A  \x0A" "end", {4, 1, 1, 1, 4, 1, 4, 1, 3}},
    {"starcoder", "12345678 3.14159 1,000", {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"starcoder", "x=1+2; y<=3|z^~`q", {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 3, 1}},
    {"starcoder", "$100 \xE2\x82\xAC" "5 #tag @me", {1, 1, 1, 1, 2, 1, 2, 3, 2, 2}},
    {"starcoder", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80 ok", {2, 3}},
    {"starcoder", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", {4, 4, 4}},
    {"starcoder", "\xCE\xA9mega \xC3\xA9l\xC3\xA8ve na\xC3\xAFve", {5, 6, 6}},
    {"starcoder", "a\xC2\xA0" "b a\xE3\x80\x80" "b a\xE2\x80\x83" "b", {1, 1, 1, 2, 1, 1, 2, 1, 1}},
    {"starcoder", "word.\x0A", {4, 1, 1}},
    {"starcoder", " ?! ...", {3, 4}},
    {"starcoder", "hello  \x0A  world  ", {5, 4, 6, 2}},
    {"starcoder", "\xD9\xA0\xD9\xA1\xD9\xA2 \xC2\xB2\xC2\xB3 \xE2\x85\xA7", {1, 1, 1, 1, 1, 1, 1, 1}},
    {"starcoder", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x81\xEF\xBC\x9F \xE2\x80\x98q\xE2\x80\x9F \xE3\x80\x81\xE3\x80\x82", {2, 2, 2, 1, 1, 3}},
    {"starcoder", "e\xCC\x81 a\xCC\x88", {1, 1, 2, 1}},
    {"starcoder", "   ", {3}},
    {"starcoder", "x\xE1\xBE\xBE\xE2\x84\xA6 \xE2\x84\xAA\xE1\xBF\x93\xE1\xBD\xBD-\xC6\xBB\xCA\x94\xCA\xB0 \xE1\x83\x90\xD5\xA0", {3, 4, 1, 3, 3}},
    {"starcoder", "b\xC3\x9F\xE6\x9C\xAC+_\xE2\x84\xA6\xE2\x80\x93" "9\xE3\x83\xBC \xE2\x80\x94{\xE1\xBE\xBE\xE3\x80\x81", {3, 2, 1, 1, 1, 1, 3, 1, 1}},
    {"starcoder", "\xEF\xBD\x81\xE2\x85\xA7:\xED\x95\x9C'\xEF\xBB\xBF", {1, 1, 1, 1, 2}},
    {"starcoder", "\xE0\xA0\x80\xE2\x80\xA8!5>L$\xE4\xB8\xAD\xD0\xB6s\xC2\xA3\xD7\x91s\xC2\x85", {1, 1, 1, 1, 1, 1, 1, 3, 1, 2, 1}},
    {"starcoder", "aA9\xCA\xB0,\xC3\xA9\x09\xEE\x80\x80\xE2\x80\x98\x0D\xC6\xBB;\xE3\x83\xBB%", {2, 1, 1, 1, 1, 1, 2, 1, 1, 3}},
    {"starcoder", "\xEA\xB0\x80\xD7\x90r% \xE3\x80\x80|\xC2\xB5:]\xE4\xB8\x80\xE2\x80\x93\xCC\x88" "1r!\xC3\xB8", {3, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1}},
    {"starcoder", "6", {1}},
    {"starcoder", "\xE5\xAD\x97\xD9\xA0\xE4\xB8\xAD" "8\xE3\x80\x8D\xD0\xB6" "Be", {1, 1, 1, 1, 1, 3}},
    {"starcoder", "\xC2\xB7" "d", {1, 1}},
    {"starcoder", ",b\xE6\x9C\xAC|\xCC\x81 \xC2\xB1\xE2\x80\x9FVB\xE3\x80\x81\xC3\xB7\xD7\xA9", {1, 2, 2, 3, 2, 2, 1}},
    {"starcoder", "\xE2\x80\x99\xC2\xB2=\xE6\x97\xA5 \xC2\xB5" "6d\xC2\xA0!\xD8\xB9%>99\xC3\xA9" "6\xF0\x9F\xA6\x99'\xE2\x80\x8B", {1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 3}},
    {"starcoder", "5", {1}},
    {"starcoder", "\xF0\x90\x91\x8E", {1}},
    {"starcoder", ":\xEF\xBC\xA1 }\xE2\x80\xA8\xEF\xBC\x9Fm\xC2\xA3\xE2\x80\x98;(:s\xE3\x83\xBC\xD7\x90,", {1, 1, 2, 1, 1, 1, 5, 3, 1}},
    {"starcoder", ",,\xE1\xBD\xBD\xCC\x88)\xEF\xBD\x9E\xCC\x81\xE2\x80\x98\xD7\xA9 M\x01\xC2\xA3", {2, 1, 5, 1, 2, 2}},
    {"starcoder", "\xE3\x80\x81\xE2\x80\x9F\xE1\xBD\xBD=2\xEF\xBB\xBF%", {2, 1, 1, 1, 2}},
    {"starcoder", "\xE2\x84\xAA\xC3\x89" "0\xF0\x9F\xA6\x99\xC2\x85V{\xE2\x80\x9DR\xE6\x97\xA5\xCC\x88", {2, 1, 1, 1, 1, 2, 2, 1}},
    {"starcoder", "\xE1\xBD\xBD\x0D\xCA\x94M7\xE3\x83\xBC\xE1\x83\x90T/\xC2\xB7\xE6\x9C\xAC\xEF\xBC\x81\xC5\x81\xC2\xA1\xEF\xBD\x81}\xCE\xBB\xC2\xA0", {1, 1, 2, 1, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"starcoder", "e}\xC2\xA1S`\xE6\x96\x87" "2a\xE3\x80\x81" "DS\x0B\xEF\xBC\x81$\xEF\xBC\x8C\xC3\xB7", {1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 4}},
    {"starcoder", "_\xE5\xAD\x97^\xC3\x9F\xCE\xA9\xE3\x80\x82", {1, 1, 1, 2, 1}},
    {"starcoder", "\xEF\xBC\x90\xC3\xB8\xE6\x9C\xAC", {1, 2}},
};
// clang-format on

std::vector<uint32_t> split(BpePreTokenizer type, const std::string& text) {
  std::vector<uint32_t> cps;
  unicode::decode_utf8(text, cps);
  std::vector<unicode::Flags> flags;
  for (const uint32_t cp : cps) flags.push_back(unicode::flags(cp));
  std::vector<uint32_t> lengths;
  bpe_pre_tokenize(type, cps, flags, lengths);
  return lengths;
}

TEST(BpePreTokenizerTest, MatchesLlamaCppRegexes) {
  int failures = 0;
  for (const PreTokenizerCase& c : kCases) {
    const std::optional<BpePreTokenizerInfo> info = find_bpe_pre_tokenizer(c.pre);
    ASSERT_TRUE(info.has_value()) << c.pre;
    const std::vector<uint32_t> got = split(info->type, c.text);
    if (got != c.word_lengths && ++failures <= 10) {
      ADD_FAILURE() << c.pre << ": \"" << c.text << "\"\n  expected "
                    << ::testing::PrintToString(c.word_lengths) << "\n  got      "
                    << ::testing::PrintToString(got);
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(BpePreTokenizerTest, WordsAsText) {
  const auto words = [](const char* pre, const std::string& text) {
    std::vector<uint32_t> cps;
    unicode::decode_utf8(text, cps);
    std::vector<std::string> out;
    size_t begin = 0;
    for (const uint32_t length : split(find_bpe_pre_tokenizer(pre)->type, text)) {
      std::string word;
      for (size_t i = begin; i < begin + length; ++i) unicode::append_utf8(word, cps[i]);
      out.push_back(word);
      begin += length;
    }
    return out;
  };
  using Words = std::vector<std::string>;
  EXPECT_EQ(words("gpt-2", "Hello world, it's 2024!!"),
            (Words{"Hello", " world", ",", " it", "'s", " 2024", "!!"}));
  // Llama 3: case-insensitive contractions, digits in threes, a space before punctuation.
  EXPECT_EQ(words("llama-bpe", "I'LL pay 1234567 now!\n\n"),
            (Words{"I", "'LL", " pay", " ", "123", "456", "7", " now", "!\n\n"}));
  // Qwen2: the same with single digits.
  EXPECT_EQ(words("qwen2", "pay 123"), (Words{"pay", " ", "1", "2", "3"}));
  // `\s+(?!\S)` leaves the last space to the next word.
  EXPECT_EQ(words("gpt-2", "a   b"), (Words{"a", "  ", " b"}));
  // Unicode categories: Greek letters, Devanagari digits, an ideographic space.
  EXPECT_EQ(words("gpt-2", "\xCE\xB1\xCE\xB2 \xE0\xA5\xA7\xE0\xA5\xA8\xE3\x80\x80x"),
            (Words{"\xCE\xB1\xCE\xB2", " \xE0\xA5\xA7\xE0\xA5\xA8", "\xE3\x80\x80", "x"}));
}

TEST(BpePreTokenizerTest, NamesAndFlags) {
  EXPECT_EQ(find_bpe_pre_tokenizer("llama-bpe")->type, BpePreTokenizer::kLlama3);
  EXPECT_TRUE(find_bpe_pre_tokenizer("llama-bpe")->ignore_merges);
  EXPECT_TRUE(find_bpe_pre_tokenizer("llama-bpe")->add_bos);
  EXPECT_EQ(find_bpe_pre_tokenizer("mpt")->type, BpePreTokenizer::kGpt2);
  EXPECT_EQ(find_bpe_pre_tokenizer("refact")->type, BpePreTokenizer::kStarcoder);
  EXPECT_EQ(find_bpe_pre_tokenizer("command-r")->type, BpePreTokenizer::kStarcoder);
  EXPECT_FALSE(find_bpe_pre_tokenizer("command-r")->clean_spaces);
  EXPECT_EQ(find_bpe_pre_tokenizer("smollm")->type, BpePreTokenizer::kStarcoder);
  EXPECT_EQ(find_bpe_pre_tokenizer("qwen2")->type, BpePreTokenizer::kQwen2);
  EXPECT_FALSE(find_bpe_pre_tokenizer("gpt-neox").has_value());
  EXPECT_FALSE(find_bpe_pre_tokenizer("").has_value());
}

}  // namespace
}  // namespace capibara
