// terminate.cpp — what keel does if the C++ runtime gives up.
//
// keel's paths catch what they can (std::bad_alloc at the edges) and throw
// nothing themselves, so std::terminate means a bug. libstdc++'s default
// handler would demangle the exception's type name first, which links its
// whole demangler (~45 KB) into a binary whose size is its memory
// footprint: every page of a static PID 1 ends up resident. Replacing the
// handler keeps the message and drops the demangler. Linked into the keel
// executable only; the tests keep the verbose one.
#include <unistd.h>

#include <cstdlib>

namespace __gnu_cxx {

void __verbose_terminate_handler() {  // NOLINT(bugprone-reserved-identifier): overrides libstdc++'s
  static const char kMessage[] = "keel: fatal: std::terminate called (an uncaught exception or a bug); aborting\n";
  ssize_t ignored = ::write(2, kMessage, sizeof kMessage - 1);
  (void)ignored;
  std::abort();
}

}  // namespace __gnu_cxx
