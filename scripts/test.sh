#!/usr/bin/env bash
# Runs the whole test suite: the release build, the kernel tests for aarch64 under qemu
# (scripts/test_arm.sh), then the same tests built with ASan + UBSan.
# Test data comes from $CAPIBARA_SHARED (default ../shared beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
export CAPIBARA_SHARED="${CAPIBARA_SHARED:-$(cd .. && pwd)/shared}"

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

# The NEON kernels, cross-compiled for aarch64 and run under qemu (kernel tests only).
bash scripts/test_arm.sh

if [ "${CAPIBARA_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== ASan + UBSan build"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCAPIBARA_SANITIZE=address,undefined >/dev/null
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900

  echo "== TSan build (engine, registry, server, attention's split and the line round trip: the multi-threaded layers)"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCAPIBARA_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j "$jobs" \
    --target engine_tests server_tests core_tests registry_tests model_tests tools_tests
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 900 \
    -R '^(Engine|Scheduler|HttpServer|ThreadPool|CompletionRequest|Registry|ExpertAdmin|Shapes/Attention|LineRoundTrip)'
fi
