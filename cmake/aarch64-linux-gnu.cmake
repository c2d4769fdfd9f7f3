# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu. The binaries run on
# this x86 machine under qemu-user (`qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max`, the
# emulator below, which `ctest` and `add_test` use too). Used with CAPIBARA_KERNELS_ONLY=ON by
# scripts/test_arm.sh: the sysroot holds only the C and C++ runtimes, not capibara's other
# dependencies.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries, headers and packages from the target's sysroot only; build tools from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# `-cpu max`: every extension qemu emulates (the dot product and half-precision arithmetic
# included), so the dispatcher picks the NEON table.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max)
