// terminate.cpp — what keel does if the C++ runtime gives up.
//
// keel's paths catch what they can (std::bad_alloc at the edges) and throw
// nothing themselves, so std::terminate means a bug. libstdc++'s default
// handler would demangle the exception's type name first, which links its
// whole demangler (~45 KB) into a binary whose size is its memory
// footprint: every page of a static PID 1 ends up resident. Replacing the
// handler keeps the message and drops the demangler. As the system's PID 1
// it does not abort (a kernel panic) but freezes (core/fatal.hpp). Linked
// into the keel executable only; the tests keep the verbose one.
#include "core/fatal.hpp"

namespace __gnu_cxx {  // NOLINT(bugprone-reserved-identifier): libstdc++'s namespace

void __verbose_terminate_handler() {  // NOLINT(bugprone-reserved-identifier): overrides libstdc++'s
  keel::fatal::die("std::terminate called (an uncaught exception or a bug)");
}

}  // namespace __gnu_cxx
