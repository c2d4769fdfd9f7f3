// Stop strings over streamed pieces.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/stop_matcher.hpp"

namespace capibara {
namespace {

// Feeds `pieces` and returns everything emitted (plus the flush when no stop matched).
std::string run(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) {
    const StopMatcher::Output o = m.push(piece);
    out += o.emit;
    if (o.stopped) return out;
  }
  return out + m.flush();
}

TEST(StopMatcherTest, StopStringAcrossPieces) {
  StopMatcher m({"END"});
  StopMatcher::Output o = m.push("abc E");
  EXPECT_EQ(o.emit, "abc ");
  EXPECT_FALSE(o.stopped);
  o = m.push("N");
  EXPECT_EQ(o.emit, "");
  EXPECT_FALSE(o.stopped);
  o = m.push("D and more");
  EXPECT_EQ(o.emit, "");
  EXPECT_TRUE(o.stopped);
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched_index(), 0u);
  // Nothing after the stop, ever.
  o = m.push("more");
  EXPECT_EQ(o.emit, "");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcherTest, PartialPrefixThatIsNotAStopIsEmitted) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("E").emit, "");
  EXPECT_EQ(m.push("N").emit, "");
  const StopMatcher::Output o = m.push("x");
  EXPECT_EQ(o.emit, "ENx");
  EXPECT_FALSE(o.stopped);
  EXPECT_FALSE(m.stopped());
  // Held back at the end of generation, then flushed.
  EXPECT_EQ(m.push("EN").emit, "");
  EXPECT_EQ(m.flush(), "EN");
}

TEST(StopMatcherTest, OverlappingPrefixes) {
  StopMatcher m({"abcd"});
  EXPECT_EQ(run(m, {"a", "b", "a", "b", "c", "d", "e"}), "ab");
  EXPECT_TRUE(m.stopped());
  StopMatcher n({"aab"});
  EXPECT_EQ(run(n, {"a", "a", "a", "b"}), "a");
}

TEST(StopMatcherTest, MultipleStopStringsEarliestWins) {
  StopMatcher m({"STOP", "\n\n"});
  EXPECT_EQ(run(m, {"one\n", "\ntwo STOP"}), "one");
  EXPECT_EQ(m.matched_index(), 1u);

  StopMatcher n({"STOP", "\n\n"});
  EXPECT_EQ(run(n, {"one ST", "OP\n\n"}), "one ");
  EXPECT_EQ(n.matched_index(), 0u);

  // Holds back for the longest possible prefix among all stop strings.
  StopMatcher k({"xy", "wxyz"});
  EXPECT_EQ(k.push("awx").emit, "a");
  EXPECT_EQ(k.push("q").emit, "wxq");
}

TEST(StopMatcherTest, StopAtTheVeryStartAndInOnePiece) {
  StopMatcher m({"</s>"});
  const StopMatcher::Output o = m.push("</s>rest");
  EXPECT_EQ(o.emit, "");
  EXPECT_TRUE(o.stopped);

  StopMatcher n({"."});
  const StopMatcher::Output p = n.push("Hi. There.");
  EXPECT_EQ(p.emit, "Hi");
  EXPECT_TRUE(p.stopped);
}

TEST(StopMatcherTest, EmptyStopListPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.push("any").emit, "any");
  EXPECT_EQ(m.push(" text").emit, " text");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.flush(), "");

  StopMatcher empty_strings({"", ""});
  EXPECT_EQ(empty_strings.push("abc").emit, "abc");
  EXPECT_FALSE(empty_strings.stopped());

  StopMatcher mixed({"", "b"});
  EXPECT_EQ(run(mixed, {"a", "b"}), "a");
  EXPECT_EQ(mixed.matched_index(), 1u);  // index in the caller's list
}

TEST(StopMatcherTest, MultiByteText) {
  StopMatcher m(
      {"\xC3\xB1"
       "o"});  // "ño"
  EXPECT_EQ(m.push("ma\xC3\xB1").emit, "ma");
  EXPECT_EQ(m.push("ana").emit,
            "\xC3\xB1"
            "ana");
  EXPECT_EQ(run(m, {" a\xC3\xB1", "o!"}), " a");
}

}  // namespace
}  // namespace capibara
