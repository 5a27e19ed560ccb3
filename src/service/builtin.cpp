#include "service/builtin.hpp"

#include <sys/random.h>

#include <cerrno>

namespace keel::service {

std::vector<ServiceConfig> builtin_services() {
  std::vector<ServiceConfig> out;
  ServiceConfig rng;
  rng.name = std::string(kRngReady);
  rng.file = std::string(kBuiltinFile);
  rng.description = "the kernel's random number generator is initialised";
  rng.type = Type::Oneshot;
  // keel itself (the binary PID 1 runs), as a separate program.
  rng.command = {"/proc/self/exe", std::string(kRngWaitArg)};
  rng.restart = Restart::OnFailure;
  rng.start_timeout_ns = 0;  // as long as the kernel needs
  rng.stdout_ = Stream{StreamKind::Null, {}};
  out.push_back(std::move(rng));
  return out;
}

int run_rng_wait() noexcept {
  unsigned char byte = 0;
  for (;;) {
    // Flags 0: wait until the pool is initialised. This process exists to
    // wait here (and to make the kernel generate entropy meanwhile).
    ssize_t n = ::getrandom(&byte, 1, 0);
    if (n == 1) return 0;
    if (n < 0 && errno != EINTR) return 1;
  }
}

}  // namespace keel::service
