// The scheduler alone, without a model: admission, budget, decode priority, chunking.
#include <gtest/gtest.h>

#include "engine/scheduler.hpp"

namespace capibara {
namespace {

ScheduledSequence make(int64_t id, int64_t n_tokens) {
  ScheduledSequence s;
  s.id = id;
  s.n_tokens = n_tokens;
  return s;
}

TEST(Scheduler, AdmitsUpToMaxNumSeqsInArrivalOrder) {
  Scheduler sched({2, 100, true});
  auto a = make(0, 5), b = make(1, 5), c = make(2, 5);
  sched.add(&a);
  sched.add(&b);
  sched.add(&c);
  const auto plan = sched.schedule();
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].seq, &a);
  EXPECT_EQ(plan[1].seq, &b);
  EXPECT_EQ(sched.n_waiting(), 1u);
  EXPECT_NE(a.slot, b.slot);
  EXPECT_EQ(c.slot, -1);
  sched.remove(&a);
  const auto next = sched.schedule();
  EXPECT_GE(c.slot, 0);
  EXPECT_EQ(c.slot, 0 + (b.slot == 0 ? 1 : 0));  // took the freed slot
  EXPECT_EQ(next.back().seq, &c);
}

TEST(Scheduler, DecodesFirstThenChunkedPromptUnderBudget) {
  Scheduler sched({4, 10, true});
  auto decoding = make(0, 7);
  decoding.n_computed = 6;
  auto prompt = make(1, 25);
  sched.add(&decoding);
  sched.add(&prompt);
  auto plan = sched.schedule();
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].seq, &decoding);
  EXPECT_EQ(plan[0].n_tokens, 1);
  EXPECT_TRUE(plan[0].want_logits);
  EXPECT_EQ(plan[1].seq, &prompt);
  EXPECT_EQ(plan[1].n_tokens, 9);  // budget 10 minus the decode
  EXPECT_FALSE(plan[1].want_logits);
  prompt.n_computed += 9;
  decoding.n_computed += 1;
  decoding.n_tokens += 1;
  plan = sched.schedule();
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].start, 9);
  EXPECT_EQ(plan[1].n_tokens, 9);
  prompt.n_computed += 9;
  decoding.n_computed += 1;
  decoding.n_tokens += 1;
  plan = sched.schedule();
  EXPECT_EQ(plan[1].n_tokens, 7);  // the rest of the prompt, which now wants logits
  EXPECT_TRUE(plan[1].want_logits);
}

TEST(Scheduler, WithoutChunkingAPromptWaitsForAStepItFitsIn) {
  Scheduler sched({4, 10, false});
  auto decoding = make(0, 3);
  decoding.n_computed = 2;
  auto prompt = make(1, 10);
  sched.add(&decoding);
  sched.add(&prompt);
  auto plan = sched.schedule();
  ASSERT_EQ(plan.size(), 1u);  // 10 tokens do not fit beside the decode
  EXPECT_EQ(plan[0].seq, &decoding);
  sched.remove(&decoding);
  plan = sched.schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].n_tokens, 10);
}

TEST(Scheduler, ALongPromptAloneStillProgressesWithoutChunking) {
  Scheduler sched({1, 8, false});
  auto prompt = make(0, 20);
  sched.add(&prompt);
  const auto plan = sched.schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].n_tokens, 8);
}

TEST(Scheduler, RemovingAWaitingSequence) {
  Scheduler sched({1, 8, true});
  auto a = make(0, 4), b = make(1, 4);
  sched.add(&a);
  sched.add(&b);
  sched.schedule();
  sched.remove(&b);
  EXPECT_EQ(sched.n_waiting(), 0u);
  sched.remove(&a);
  EXPECT_TRUE(sched.idle());
}

}  // namespace
}  // namespace capibara
