# SPDX-License-Identifier: MIT
# Cross toolchain: Debian's aarch64-linux-gnu-gcc/g++ with the arm64 multiarch -dev packages
# (liburing-dev:arm64, libfmt-dev:arm64, libgtest-dev:arm64, ...) installed next to the amd64 ones.
# tests/lab/setup-aarch64-deps.sh installs everything this file expects.
# Executables (unit tests, gtest discovery) run under qemu-user through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# The cross libc lives in /usr/aarch64-linux-gnu, the multiarch -dev packages in /usr with
# lib/aarch64-linux-gnu. CMake only appends lib/aarch64-linux-gnu (never lib/x86_64-linux-gnu)
# under these roots, so host libraries cannot leak into the link.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config would otherwise report the amd64 .pc files (e.g. liburing's libdir
# /usr/lib/x86_64-linux-gnu), which FindLibUring uses as search hints.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# qemu-user runs the test binaries. When libc6:arm64 is installed (multiarch; the arm64 -dev
# packages pull it in) the binaries' own loader /lib/ld-linux-aarch64.so.1 and libc match, and no
# -L is wanted: `-L /usr/aarch64-linux-gnu` would load the cross toolchain's ld.so (libc6-arm64-cross,
# 2.36-8cross1) next to the multiarch libc.so.6 (2.36-9+deb12u*), and with that mix every
# pthread_create hangs. -L is only used when the multiarch loader is missing.
find_program(CONVME_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(CONVME_QEMU_AARCH64)
  if(EXISTS /lib/ld-linux-aarch64.so.1 OR EXISTS /usr/lib/ld-linux-aarch64.so.1)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${CONVME_QEMU_AARCH64})
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR ${CONVME_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
  endif()
endif()
