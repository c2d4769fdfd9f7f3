// The pause of a spin-wait, shared by the thread pool and the tools that spin on a line.
#pragma once

namespace capibara {

// Tells the core that this is a spin-wait (it frees execution resources for the sibling
// hyper-thread and saves power) without giving up the time slice.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace capibara
