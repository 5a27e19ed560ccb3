// fd_limit.cpp — see fd_limit.hpp.
#include "core/fd_limit.hpp"

#include <cerrno>

namespace keel {
namespace {
FdLimit g_limit;
}  // namespace

FdLimit raise_fd_limit() noexcept {
  if (g_limit.raised) return g_limit;
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) {
    g_limit.error = errno;
    return g_limit;
  }
  g_limit.inherited_soft = now.rlim_cur;
  g_limit.soft = now.rlim_cur;
  g_limit.hard = now.rlim_max;
  if (now.rlim_cur >= now.rlim_max) return g_limit;
  rlimit raised{now.rlim_max, now.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    g_limit.error = errno;
    return g_limit;
  }
  g_limit.soft = now.rlim_max;
  g_limit.raised = true;
  return g_limit;
}

const FdLimit& fd_limit() noexcept { return g_limit; }

}  // namespace keel
