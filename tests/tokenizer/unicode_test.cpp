// Unicode properties from the generated tables and llama.cpp-compatible UTF-8 decoding.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tokenizer/unicode.hpp"

namespace capibara {
namespace {

using unicode::Category;

TEST(UnicodeTest, Categories) {
  EXPECT_EQ(unicode::flags('a').category(), Category::kLetter);
  EXPECT_EQ(unicode::flags('Z').category(), Category::kLetter);
  EXPECT_EQ(unicode::flags('7').category(), Category::kNumber);
  EXPECT_EQ(unicode::flags('!').category(), Category::kPunctuation);
  EXPECT_EQ(unicode::flags('_').category(), Category::kPunctuation);
  EXPECT_EQ(unicode::flags('$').category(), Category::kSymbol);
  EXPECT_EQ(unicode::flags('`').category(), Category::kSymbol);
  EXPECT_EQ(unicode::flags(0x0301).category(), Category::kMark);    // combining acute
  EXPECT_EQ(unicode::flags(0x4E2D).category(), Category::kLetter);  // 中
  EXPECT_EQ(unicode::flags(0x0660).category(), Category::kNumber);  // Arabic-Indic zero
  EXPECT_EQ(unicode::flags(0x2167).category(), Category::kNumber);  // Roman numeral eight
  EXPECT_EQ(unicode::flags(0x00BF).category(), Category::kPunctuation);
  EXPECT_EQ(unicode::flags(0x20AC).category(), Category::kSymbol);     // €
  EXPECT_EQ(unicode::flags(0x1F600).category(), Category::kSymbol);    // emoji
  EXPECT_EQ(unicode::flags(0xE000).category(), Category::kControl);    // private use
  EXPECT_EQ(unicode::flags(0x200D).category(), Category::kControl);    // ZWJ (Cf)
  EXPECT_EQ(unicode::flags(0x0378).category(), Category::kUndefined);  // unassigned
  EXPECT_EQ(unicode::flags(0x110000).category(), Category::kUndefined);
  EXPECT_EQ(unicode::flags(0x00A0).category(), Category::kSeparator);
}

TEST(UnicodeTest, Whitespace) {
  for (const uint32_t cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u,
                            0x2000u, 0x200Au, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_TRUE(unicode::flags(cp).is_whitespace()) << std::hex << cp;
  }
  for (const uint32_t cp : {0x1Cu, 0x1Fu, 0x200Bu, 0xFEFFu, 0x180Eu, 0x61u}) {
    EXPECT_FALSE(unicode::flags(cp).is_whitespace()) << std::hex << cp;
  }
}

TEST(UnicodeTest, Lowercase) {
  EXPECT_EQ(unicode::to_lower('A'), uint32_t{'a'});
  EXPECT_EQ(unicode::to_lower('a'), uint32_t{'a'});
  EXPECT_EQ(unicode::to_lower('1'), uint32_t{'1'});
  EXPECT_EQ(unicode::to_lower(0x00C9), 0x00E9u);  // É
  EXPECT_EQ(unicode::to_lower(0x03A9), 0x03C9u);  // Ω
  EXPECT_EQ(unicode::to_lower(0x0130), 0x0069u);  // İ: the simple mapping
  EXPECT_EQ(unicode::to_lower(0x1E9E), 0x00DFu);  // ẞ
  EXPECT_EQ(unicode::to_lower(0x0416), 0x0436u);  // Ж
  EXPECT_EQ(unicode::to_lower(0x01C5), 0x01C6u);  // ǅ (titlecase)
  EXPECT_EQ(unicode::to_lower(0x10400), 0x10428u);
}

TEST(UnicodeTest, NfdLead) {
  EXPECT_EQ(unicode::nfd_lead(0x00E9), uint32_t{'e'});  // é
  EXPECT_EQ(unicode::nfd_lead(0x00C5), uint32_t{'A'});  // Å
  EXPECT_EQ(unicode::nfd_lead(0x212B), uint32_t{'A'});  // Angstrom sign
  EXPECT_EQ(unicode::nfd_lead(0x1E69), uint32_t{'s'});  // ṩ: two marks
  EXPECT_EQ(unicode::nfd_lead(0xD55C), 0x1112u);        // 한 -> its leading jamo
  EXPECT_EQ(unicode::nfd_lead('a'), uint32_t{'a'});
  EXPECT_EQ(unicode::nfd_lead(0x4E2D), 0x4E2Du);
}

std::vector<uint32_t> decode(const std::string& s, std::vector<uint32_t>* offsets = nullptr) {
  std::vector<uint32_t> cps;
  unicode::decode_utf8(s, cps, offsets);
  return cps;
}

TEST(UnicodeTest, DecodeIsLenientLikeLlamaCpp) {
  using Cps = std::vector<uint32_t>;
  std::vector<uint32_t> offsets;
  EXPECT_EQ(decode("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", &offsets),
            (Cps{'a', 0xE9, 0x4E2D, 0x1F600}));
  EXPECT_EQ(offsets, (std::vector<uint32_t>{0, 1, 3, 6}));
  EXPECT_EQ(decode("a\xFF"
                   "b"),
            (Cps{'a', 0xFFFD, 'b'}));
  EXPECT_EQ(decode("\x80"), (Cps{0xFFFD}));
  EXPECT_EQ(decode("\xE4\xB8"), (Cps{0xFFFD, 0xFFFD}));  // truncated: each byte on its own
  EXPECT_EQ(decode("\xC0\x80"), (Cps{0}));               // overlong forms decode
  EXPECT_EQ(decode("\xED\xA0\x80"), (Cps{0xD800}));      // and so do surrogates
  EXPECT_EQ(decode("\xF5\x80\x80\x80"), (Cps{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}));
  EXPECT_EQ(decode(""), Cps{});
}

TEST(UnicodeTest, EncodeRoundTrips) {
  for (const uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    unicode::append_utf8(s, cp);
    EXPECT_EQ(decode(s), std::vector<uint32_t>{cp}) << std::hex << cp;
  }
  EXPECT_FALSE(unicode::database_version().empty());
}

}  // namespace
}  // namespace capibara
