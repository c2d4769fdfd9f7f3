// How long one cache line takes to go from the pool's calling thread to another pool thread and
// back: a number that tells where the operating system or hypervisor placed the threads. On the
// 2-vCPU Zen 4 host of docs/PERFORMANCE.md ("Between the operations") it read 65-102 ns while the
// two vCPUs shared a CCD and 336-430 ns while they sat on two, and decoding's fraction of the
// read bound moved with it (93-97 % against 70-77 %); `capibara bench --roofline` reports it
// beside every read pass, so that a run's figures can be read with the placement they met.
//
// Thread safety: called by the thread that runs the pool's operations.
#pragma once

#include <optional>

#include "core/thread_pool.hpp"

namespace capibara::tools {

// The median round trip in nanoseconds, over a few batches of a line passed back and forth
// (each thread waits for the other's increment of one atomic counter, then increments it). No
// value with a pool of one thread, or when no other thread joined within a few milliseconds (a
// machine with fewer free cores than threads).
std::optional<double> line_round_trip_ns(ThreadPool& pool);

}  // namespace capibara::tools
