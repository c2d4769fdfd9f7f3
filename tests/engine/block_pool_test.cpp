// The KV block allocator and the scheduler's block accounting, without a model: reference
// counts, the LRU free queue and its hash table, preemption, and a randomized run of thousands
// of admit / cancel / preempt / finish events that must leak no block.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "engine/block_pool.hpp"
#include "engine/prefix_cache.hpp"
#include "engine/scheduler.hpp"
#include "model/kv_cache.hpp"

namespace capibara {
namespace {

TEST(BlockPool, AllocatesEveryBlockOnceAndReusesTheLeastRecentlyFreed) {
  BlockPool pool(4);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(pool.allocate());
  EXPECT_EQ(pool.allocate(), -1);
  std::vector<int32_t> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(pool.n_free(), 0);
  pool.release(got[2]);
  pool.release(got[0]);
  EXPECT_EQ(pool.allocate(), got[2]);  // freed first, reused first
  EXPECT_EQ(pool.allocate(), got[0]);
  EXPECT_TRUE(pool.consistent());
}

TEST(BlockPool, PublishedBlocksAreSharedByReferenceAndEvictedLast) {
  BlockPool pool(3);
  const int32_t a = pool.allocate();
  const int32_t b = pool.allocate();
  EXPECT_TRUE(pool.publish(a, 111));
  EXPECT_FALSE(pool.publish(b, 111));  // one block per key
  EXPECT_EQ(pool.lookup(111), a);      // shared: two references
  EXPECT_EQ(pool.ref_count(a), 2);
  EXPECT_EQ(pool.lookup(222), -1);
  pool.release(a);
  pool.release(a);  // free, but still findable
  EXPECT_EQ(pool.n_free(), 2);
  EXPECT_EQ(pool.n_cached_free(), 1);
  EXPECT_EQ(pool.lookup(111), a);  // revived from the free queue
  EXPECT_EQ(pool.n_free(), 1);
  pool.release(a);
  pool.release(b);
  // Free queue: c (never used), a (cached), b. Allocating everything evicts a's key.
  for (int i = 0; i < 3; ++i) EXPECT_GE(pool.allocate(), 0);
  EXPECT_FALSE(pool.has_hash(a));
  EXPECT_EQ(pool.n_cached_free(), 0);
  EXPECT_TRUE(pool.consistent());
}

TEST(BlockPool, HashTableSurvivesCollidingKeysAndDeletions) {
  BlockPool pool(64);
  std::vector<int32_t> blocks;
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 64; ++i) {
    blocks.push_back(pool.allocate());
    keys.push_back(i * 128 + 5);  // all land on the same home slot
    ASSERT_TRUE(pool.publish(blocks.back(), keys.back()));
  }
  for (size_t i = 0; i < 64; i += 2) pool.release(blocks[i]);
  for (size_t i = 0; i < 32; ++i) ASSERT_GE(pool.allocate(), 0);  // evicts the released keys
  ASSERT_TRUE(pool.consistent());
  for (size_t i = 0; i < 64; ++i) {
    if (i % 2 == 1) {
      EXPECT_EQ(pool.lookup(keys[i]), blocks[i]) << i;
    } else {
      EXPECT_EQ(pool.lookup(keys[i]), -1) << i;
    }
  }
  EXPECT_TRUE(pool.consistent());
}

TEST(SchedulerBlocks, PreemptsTheNewestSequenceAndResumesItFirst) {
  BlockPool pool(4);  // 64 positions
  Scheduler sched({4, 64, true}, &pool);
  ScheduledSequence a, b;
  a.id = 0;
  a.n_tokens = 20;  // 2 blocks
  b.id = 1;
  b.n_tokens = 30;  // 2 blocks
  sched.add(&a);
  sched.add(&b);
  auto plan = sched.schedule();
  ASSERT_EQ(plan.size(), 2u);
  for (const auto& c : plan) sched.computed(c);
  EXPECT_EQ(pool.n_free(), 0);
  // a decodes past its second block: no block is free, so b (the newest) is preempted.
  a.n_tokens = 33;
  a.n_computed = 32;
  plan = sched.schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].seq, &a);
  EXPECT_EQ(a.blocks.size(), 3u);
  EXPECT_EQ(b.n_computed, 0);
  EXPECT_TRUE(b.blocks.empty());
  EXPECT_EQ(b.slot, -1);
  EXPECT_EQ(b.n_preemptions, 1);
  EXPECT_EQ(sched.n_preemptions(), 1u);
  EXPECT_EQ(sched.n_waiting(), 1u);
  // a finishes: b resumes from scratch (recompute).
  sched.remove(&a);
  EXPECT_EQ(pool.n_free(), 4);
  plan = sched.schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].seq, &b);
  EXPECT_EQ(plan[0].start, 0);
  EXPECT_EQ(plan[0].n_tokens, 30);
  EXPECT_TRUE(pool.consistent());
}

TEST(SchedulerBlocks, PrefixHitsStartAfterTheCachedBlocks) {
  BlockPool pool(16);
  SchedulerConfig cfg{4, 256, true, true};
  Scheduler sched(cfg, &pool);
  ScheduledSequence a;
  for (int32_t i = 0; i < 40; ++i) a.tokens.push_back(i % 7);
  a.n_tokens = 40;
  sched.add(&a);
  for (const auto& c : sched.schedule()) sched.computed(c);
  EXPECT_EQ(a.block_hashes.size(), 2u);  // two full blocks published
  ScheduledSequence b;
  b.tokens = a.tokens;
  b.tokens.resize(36);
  b.tokens.push_back(99);
  b.n_tokens = 37;
  sched.add(&b);
  const auto plan = sched.schedule();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(b.n_cached_tokens, 32);
  EXPECT_EQ(plan[0].start, 32);
  EXPECT_EQ(plan[0].n_tokens, 5);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);
  EXPECT_EQ(b.blocks[1], a.blocks[1]);
  EXPECT_NE(b.blocks[2], a.blocks[2]);
  EXPECT_EQ(pool.ref_count(a.blocks[0]), 2);
  // A prompt of exactly the cached blocks still computes its last token in a fresh block.
  ScheduledSequence c;
  c.tokens.assign(a.tokens.begin(), a.tokens.begin() + 32);
  c.n_tokens = 32;
  sched.add(&c);
  sched.schedule();
  EXPECT_EQ(c.n_cached_tokens, 16);
  EXPECT_EQ(sched.prefix_hit_tokens(), 48u);
  EXPECT_EQ(sched.prefix_queried_tokens(), 40u + 37u + 32u);
  sched.remove(&a);
  sched.remove(&b);
  sched.remove(&c);
  EXPECT_EQ(pool.n_held(), 0);
  EXPECT_EQ(pool.n_cached_free(), 2);  // a's two full blocks stay findable
  EXPECT_TRUE(pool.consistent());
}

// Thousands of random events against a small pool: arrivals with shared prefixes, steps that
// compute what was planned and finish some sequences, cancellations of running and waiting
// sequences. After every event the pool is consistent and the references it counts are exactly
// the blocks the sequences hold; at the end every block is free.
TEST(SchedulerBlocks, RandomEventsLeakNoBlock) {
  for (bool prefix : {false, true}) {
    std::mt19937 rng(prefix ? 1234 : 4321);
    BlockPool pool(10);  // 160 positions; one sequence needs at most 8 blocks
    Scheduler sched({5, 48, true, prefix}, &pool);
    std::vector<std::unique_ptr<ScheduledSequence>> live;
    std::map<ScheduledSequence*, int64_t> max_len;
    int64_t next_id = 0;
    auto uniform = [&rng](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    auto check = [&] {
      ASSERT_TRUE(pool.consistent());
      std::map<int32_t, int32_t> refs;
      for (const auto& s : live) {
        for (int32_t b : s->blocks) refs[b]++;
        if (s->slot < 0) {
          ASSERT_TRUE(s->blocks.empty()) << "a waiting sequence holds blocks";
        }
        ASSERT_GE(static_cast<int64_t>(s->blocks.size()) * kKvBlockTokens, s->n_computed);
      }
      int32_t held = 0;
      for (int32_t b = 0; b < pool.n_blocks(); ++b) {
        ASSERT_EQ(pool.ref_count(b), refs.count(b) ? refs[b] : 0) << "block " << b;
        held += pool.ref_count(b) > 0 ? 1 : 0;
      }
      ASSERT_EQ(held, pool.n_held());
    };
    uint64_t finished = 0, cancelled = 0;
    for (int event = 0; event < 5000; ++event) {
      const int64_t kind = uniform(0, 9);
      if (kind <= 2 && live.size() < 12) {
        auto s = std::make_unique<ScheduledSequence>();
        s->id = next_id++;
        const int64_t n = uniform(1, 60);
        const int64_t family = uniform(0, 2);  // shared prefixes within a family
        for (int64_t i = 0; i < n; ++i) {
          s->tokens.push_back(static_cast<int32_t>(i < 40 ? family * 100 + i : uniform(0, 9)));
        }
        s->n_tokens = n;
        max_len[s.get()] = n + uniform(0, 60);
        sched.add(s.get());
        live.push_back(std::move(s));
      } else if (kind == 3 && !live.empty()) {
        const auto i = static_cast<size_t>(uniform(0, static_cast<int64_t>(live.size()) - 1));
        sched.remove(live[i].get());
        max_len.erase(live[i].get());
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        ++cancelled;
      } else {
        const auto plan = sched.schedule();
        ASSERT_NO_FATAL_FAILURE(check());
        std::vector<ScheduledSequence*> done;
        for (const auto& c : plan) {
          ASSERT_EQ(c.start, c.seq->n_computed);
          ASSERT_GE(static_cast<int64_t>(c.seq->blocks.size()) * kKvBlockTokens,
                    c.start + c.n_tokens);
          sched.computed(c);
          if (!c.want_logits) continue;
          if (c.seq->n_tokens >= max_len[c.seq] || uniform(0, 60) == 0) {
            done.push_back(c.seq);
          } else {
            c.seq->tokens.push_back(static_cast<int32_t>(uniform(0, 9)));
            c.seq->n_tokens++;
          }
        }
        for (ScheduledSequence* s : done) {
          sched.remove(s);
          max_len.erase(s);
          std::erase_if(live, [s](const auto& p) { return p.get() == s; });
          ++finished;
        }
      }
      ASSERT_NO_FATAL_FAILURE(check());
    }
    for (const auto& s : live) sched.remove(s.get());
    live.clear();
    EXPECT_EQ(pool.n_held(), 0);
    EXPECT_EQ(pool.n_free(), pool.n_blocks());
    EXPECT_TRUE(pool.consistent());
    EXPECT_GT(sched.n_preemptions(), 10u) << "the pool must run dry often";
    EXPECT_GT(finished, 100u);
    EXPECT_GT(cancelled, 100u);
    if (prefix) {
      EXPECT_GT(sched.prefix_hit_tokens(), 0u);
    }
    std::cout << "[ blocks   ] prefix " << prefix << ": " << finished << " finished, " << cancelled
              << " cancelled, " << sched.n_preemptions() << " preemptions, "
              << sched.prefix_hit_tokens() << " cached tokens\n";
  }
}

}  // namespace
}  // namespace capibara
