#!/usr/bin/env bash
# Cross-compiles the kernel tests for aarch64 and runs them under qemu-user, so that the NEON
# kernels are tested on this x86 machine: once with the table the dispatcher picks (qemu's `max`
# CPU has the dot product, so NEON; the tests compare it with the scalar reference), once with
# CAPIBARA_ISA=scalar. Only the kernel tests run on ARM: the golden and model tests need the
# shared data through the whole library (server, engine, models), which the kernel-only build
# (CAPIBARA_KERNELS_ONLY, cmake/kernels_only.cmake) leaves out.
# Needs g++-aarch64-linux-gnu and qemu-user (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
export CAPIBARA_SHARED="${CAPIBARA_SHARED:-$(cd .. && pwd)/shared}"

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "test_arm: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done

echo "== aarch64 kernel tests (cross-compiled, run under qemu-aarch64)"
cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCAPIBARA_KERNELS_ONLY=ON >/dev/null
cmake --build build-arm -j "$jobs" --target kernels_tests

qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max)
echo "-- CAPIBARA_ISA unset (the dispatcher must pick neon)"
env -u CAPIBARA_ISA CAPIBARA_EXPECT_ISA=neon "${qemu[@]}" build-arm/kernels_tests --gtest_brief=1
# The quantizer tests against llama.cpp's files use no kernel table: run them once.
echo "-- CAPIBARA_ISA=scalar"
CAPIBARA_ISA=scalar CAPIBARA_EXPECT_ISA=scalar "${qemu[@]}" build-arm/kernels_tests \
  --gtest_brief=1 --gtest_filter='-QuantizeRealData.*'
