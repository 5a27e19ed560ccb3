// raw_syscall.hpp — system calls that touch nothing but registers.
//
// A child that shares keel's memory (core/spawn.cpp: clone with CLONE_VM,
// no CLONE_VFORK) must not write a byte keel uses, and glibc's wrappers do:
// each failing one stores errno in the calling thread's TLS, which the
// child shares with keel (clone without CLONE_SETTLS keeps the parent's
// thread pointer), so a child's failed open could change the errno keel is
// about to read. These return the kernel's answer as is: a result >= 0, or
// -errno.
//
// Only x86_64 and aarch64 are written out; elsewhere kRawSyscalls is false
// and spawn forks (its child then has memory of its own).
#pragma once

#include <sys/syscall.h>

namespace keel::raw {

#if defined(__x86_64__) || defined(__aarch64__)
inline constexpr bool kRawSyscalls = true;
#else
inline constexpr bool kRawSyscalls = false;
#endif

#if defined(__x86_64__)

inline long syscall6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
  register long rax __asm__("rax") = nr;
  register long rdi __asm__("rdi") = a;
  register long rsi __asm__("rsi") = b;
  register long rdx __asm__("rdx") = c;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "+r"(rax)
                   : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return rax;
}

#elif defined(__aarch64__)

inline long syscall6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}

#else

// Never called: spawn checks kRawSyscalls first.
inline long syscall6(long, long, long, long, long, long, long) noexcept { return -38; /* ENOSYS */ }

#endif

template <typename A = long, typename B = long, typename C = long, typename D = long, typename E = long>
inline long call(long nr, A a = 0, B b = 0, C c = 0, D d = 0, E e = 0) noexcept {
  return syscall6(nr, (long)a, (long)b, (long)c, (long)d, (long)e, 0);  // NOLINT: pointers and ints alike
}

}  // namespace keel::raw
