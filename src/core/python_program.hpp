// python_program.hpp — whether a program is Python, and a PYTHONHASHSEED
// drawn without waiting (issue 14; docs/services.md, "Python services").
//
// CPython draws the key of its str/bytes hash (SipHash) at every start:
// getrandom(GRND_NONBLOCK), and when that fails with EAGAIN (the kernel's
// RNG is not initialised yet, early in a boot on a machine without a
// hardware RNG) it reads /dev/urandom, which since Linux 5.18 runs the
// kernel's jitter entropy generator in the reader before returning: about
// a second under QEMU's TCG with -cpu qemu64. keel hands the interpreter
// the seed instead, drawn in keel before the fork from the kernel's
// non-blocking output (getrandom(GRND_INSECURE)): a different value at
// every start, never a wait.
//
// Why that is enough: the hash seed only keeps an attacker from choosing
// many keys that collide in one dict (hash flooding, CVE-2012-1150); it is
// not key material. The kernel's output before "crng init done" is still
// seeded from what the kernel has gathered (interrupt and boot timings,
// RDRAND where there is one, a seed file keel credited), so it is
// unpredictable in practice but not guaranteed: a program that uses the
// seed's secrecy for more than hash randomisation, or a service exposed to
// an attacker who can observe early-boot state, opts out (CPython then
// waits for the RNG as before).
//
// Shared by the supervisor's loader (service/python_seed.hpp) and the
// container init (cinit/container_init.cpp), which has no loader: it asks
// once, before it starts its one program.
#pragma once

#include <string>

namespace keel {

// Whether `program` (an argv[0] as given; `path_env` the PATH it is looked
// up in) is a Python interpreter (its name is python, python3, python3.11,
// ...) or a #! script whose interpreter is one (`#!/usr/bin/python3 -I`,
// `#!/usr/bin/env python3`). A relative name is looked up in `path_env`
// for the #! check. Reads at most the first 256 bytes of one regular file
// (opened O_NONBLOCK, never a FIFO or a device); false when unreadable.
[[nodiscard]] bool is_python_program(const std::string& program, const std::string& path_env);

// Whether `name` (a file name, no directory) names a Python interpreter.
[[nodiscard]] bool is_python_name(const std::string& name) noexcept;

// A fresh PYTHONHASHSEED value, "1" to "4294967295" (0 would turn hash
// randomisation off), from getrandom(GRND_INSECURE), or GRND_NONBLOCK on a
// kernel without it (before 5.6); empty when neither gives bytes at once
// (the interpreter then draws its own, as without keel).
[[nodiscard]] std::string draw_python_hash_seed();

// The PATH a program is looked up in when its environment has none.
inline constexpr const char* kDefaultProgramPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace keel
