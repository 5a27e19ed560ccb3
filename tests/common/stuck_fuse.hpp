// stuck_fuse.hpp — a FUSE filesystem that never answers, for tests of
// what keel does about processes and calls that hang in the kernel.
//
// The test process serves /dev/fuse itself (a thread): it answers FUSE_INIT,
// then reads every request and answers none (except with ENOSYS for the
// ones a lookup does not need), so whatever looks a name up in it waits.
// Once that process gets a fatal signal the kernel waits for the answer
// uninterruptibly (the request is already with the daemon): state D, as
// on a dead disk or a hard-mounted NFS server that is gone. release()
// (or the destructor) aborts the connection: every waiting request fails
// and its process goes on. Mounted in the caller's mount namespace; a PID
// namespace started afterwards with a new mount namespace has a copy.
// Needs root and /dev/fuse.
#pragma once

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace keel::testutil {

class StuckFuse {
 public:
  explicit StuckFuse(const std::string& mountpoint) : mountpoint_(mountpoint) {
    std::filesystem::create_directories(mountpoint_);
    fd_ = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      error_ = std::string("/dev/fuse: ") + std::strerror(errno);
      return;
    }
    const std::string options = "fd=" + std::to_string(fd_) + ",rootmode=40000,user_id=0,group_id=0";
    if (::mount("keel-test-stuck", mountpoint_.c_str(), "fuse", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      error_ = std::string("mount fuse: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
    stop_ = ::eventfd(0, EFD_CLOEXEC);
    server_ = std::thread([this] { serve(); });
  }
  ~StuckFuse() { release(); }
  StuckFuse(const StuckFuse&) = delete;
  StuckFuse& operator=(const StuckFuse&) = delete;

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] int lookups() const { return lookups_.load(); }

  // Abort the connection: every waiting request fails, its process goes on.
  void release() {
    if (server_.joinable()) {
      std::uint64_t one = 1;
      (void)!::write(stop_, &one, sizeof one);
      server_.join();
    }
    if (mounted_) ::umount2(mountpoint_.c_str(), MNT_DETACH);
    mounted_ = false;
    if (fd_ >= 0) ::close(fd_);
    if (stop_ >= 0) ::close(stop_);
    fd_ = stop_ = -1;
  }

 private:
  void serve() {
    std::vector<char> buf(FUSE_MIN_READ_BUFFER + (1 << 20));
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if ((p[1].revents & POLLIN) != 0) return;
      const ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n < static_cast<ssize_t>(sizeof(fuse_in_header))) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT)) continue;
        return;
      }
      fuse_in_header in{};
      std::memcpy(&in, buf.data(), sizeof in);
      if (in.opcode == FUSE_INIT) {
        struct {
          fuse_out_header head;
          fuse_init_out init;
        } reply{};
        reply.head.len = sizeof reply;
        reply.head.unique = in.unique;
        reply.init.major = FUSE_KERNEL_VERSION;
        reply.init.minor = FUSE_KERNEL_MINOR_VERSION;
        reply.init.max_write = 4096;
        reply.init.max_readahead = 4096;
        (void)!::write(fd_, &reply, sizeof reply);
      } else if (in.opcode == FUSE_LOOKUP) {
        ++lookups_;  // never answered
      } else if (in.opcode != FUSE_INTERRUPT && in.opcode != FUSE_FORGET && in.opcode != FUSE_BATCH_FORGET) {
        fuse_out_header head{};
        head.len = sizeof head;
        head.error = -ENOSYS;
        head.unique = in.unique;
        (void)!::write(fd_, &head, sizeof head);
      }
    }
  }

  std::string mountpoint_;
  std::string error_;
  int fd_ = -1;
  int stop_ = -1;
  bool mounted_ = false;
  std::atomic<int> lookups_{0};
  std::thread server_;
};

}  // namespace keel::testutil
