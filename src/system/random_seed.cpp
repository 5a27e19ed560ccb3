// random_seed.cpp — SeedRNG's seed handling for keel (see random_seed.hpp).
//
// The order of steps is the whole point, so each carries its reason:
// remove-then-use (a crash never reuses a credited seed), write-new-at-once
// (a crash before shutdown still leaves a seed for the next boot), and
// hash-old-into-new (a seed drawn before the RNG was ready is never weaker
// than the one it replaces). getrandom is called through syscall(2) with
// its flags spelled out, so what keel asks the kernel is exactly what the
// code says (the entropy system test traces it).
#include "system/random_seed.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "core/log.hpp"

namespace keel {
namespace {

// ------------------------------------------------------------ BLAKE2s-256
// The hash SeedRNG (and the kernel's RNG) uses; RFC 7693, unkeyed, 32-byte
// digest. Small enough to carry here rather than pull in a crypto library.

constexpr std::uint32_t kIv[8] = {0x6A09E667U, 0xBB67AE85U, 0x3C6EF372U, 0xA54FF53AU,
                                  0x510E527FU, 0x9B05688CU, 0x1F83D9ABU, 0x5BE0CD19U};
constexpr std::uint8_t kSigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};
constexpr std::size_t kBlock = 64;
constexpr std::size_t kHashBytes = 32;

constexpr std::uint32_t rotr(std::uint32_t x, int n) noexcept { return (x >> n) | (x << (32 - n)); }

class Blake2s {
 public:
  Blake2s() noexcept {
    std::memcpy(h_, kIv, sizeof h_);
    h_[0] ^= 0x01010000U ^ static_cast<std::uint32_t>(kHashBytes);  // no key, 32-byte digest
  }

  void update(const void* data, std::size_t len) noexcept {
    const auto* in = static_cast<const unsigned char*>(data);
    while (len > 0) {
      // The last block is compressed only in final() (it needs the flag),
      // so a full buffer is compressed only when more input follows.
      if (used_ == kBlock) {
        count(kBlock);
        compress(false);
        used_ = 0;
      }
      std::size_t take = kBlock - used_ < len ? kBlock - used_ : len;
      std::memcpy(buf_ + used_, in, take);
      used_ += take;
      in += take;
      len -= take;
    }
  }

  void final(unsigned char out[kHashBytes]) noexcept {
    count(used_);
    std::memset(buf_ + used_, 0, kBlock - used_);
    compress(true);
    for (std::size_t i = 0; i < 8; ++i) {
      for (std::size_t b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<unsigned char>(h_[i] >> (8 * b));
    }
  }

 private:
  void count(std::size_t n) noexcept {
    t_[0] += static_cast<std::uint32_t>(n);
    if (t_[0] < n) ++t_[1];
  }

  static void g(std::uint32_t* v, int a, int b, int c, int d, std::uint32_t x, std::uint32_t y) noexcept {
    v[a] = v[a] + v[b] + x;
    v[d] = rotr(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = rotr(v[b] ^ v[c], 12);
    v[a] = v[a] + v[b] + y;
    v[d] = rotr(v[d] ^ v[a], 8);
    v[c] = v[c] + v[d];
    v[b] = rotr(v[b] ^ v[c], 7);
  }

  void compress(bool last) noexcept {
    std::uint32_t m[16];
    for (std::size_t i = 0; i < 16; ++i) {
      m[i] = static_cast<std::uint32_t>(buf_[i * 4]) | static_cast<std::uint32_t>(buf_[i * 4 + 1]) << 8 |
             static_cast<std::uint32_t>(buf_[i * 4 + 2]) << 16 | static_cast<std::uint32_t>(buf_[i * 4 + 3]) << 24;
    }
    std::uint32_t v[16];
    for (std::size_t i = 0; i < 8; ++i) {
      v[i] = h_[i];
      v[i + 8] = kIv[i];
    }
    v[12] ^= t_[0];
    v[13] ^= t_[1];
    if (last) v[14] = ~v[14];
    for (const auto& s : kSigma) {
      g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
      g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
      g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
      g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
      g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
      g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
      g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
      g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (std::size_t i = 0; i < 8; ++i) h_[i] ^= v[i] ^ v[i + 8];
  }

  std::uint32_t h_[8]{};
  std::uint32_t t_[2]{};
  unsigned char buf_[kBlock]{};
  std::size_t used_ = 0;
};

// ------------------------------------------------------------ the kernel

constexpr const char* kTempName = "seed.tmp";

// getrandom(2) as a raw syscall, looping over partial reads and EINTR (a
// request over 256 bytes may be cut short by a signal). `flags` always
// holds GRND_NONBLOCK or GRND_INSECURE: neither can block.
bool getrandom_all(unsigned char* buf, std::size_t len, unsigned flags) noexcept {
  std::size_t got = 0;
  while (got < len) {
    long n = ::syscall(SYS_getrandom, buf + got, len - got, flags);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

// Kernels without GRND_INSECURE (before 5.6): /dev/urandom returns at once,
// uninitialised or not (with a kernel warning).
bool read_urandom(unsigned char* buf, std::size_t len) noexcept {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::read(fd, buf + got, len - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(fd);
  return got == len;
}

struct EntropyRequest {
  int entropy_count;  // bits credited
  int buf_size;       // bytes
  unsigned char buf[kSeedBytes];
};

// Feed `len` bytes to the kernel. Credited: RNDADDENTROPY (needs
// CAP_SYS_ADMIN), which counts them toward initialising the RNG. Not
// credited: a plain write to /dev/urandom, which mixes them into the pool
// and counts nothing (mixing in known bytes can never weaken it). Returns
// whether the bytes were credited; `problem` says why not when they should
// have been.
bool feed_kernel(const unsigned char* data, std::size_t len, bool credit, const char*& problem) noexcept {
  int fd = ::open("/dev/urandom", O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    problem = "cannot open /dev/urandom";
    return false;
  }
  bool credited = false;
  if (credit) {
    EntropyRequest req{};
    req.entropy_count = static_cast<int>(len * 8);
    req.buf_size = static_cast<int>(len);
    std::memcpy(req.buf, data, len);
    credited = ::ioctl(fd, RNDADDENTROPY, &req) == 0;
    if (!credited) problem = "RNDADDENTROPY refused (no CAP_SYS_ADMIN?); seed mixed in without credit";
    std::memset(&req, 0, sizeof req);
  }
  if (!credited) {
    std::size_t done = 0;
    while (done < len) {
      ssize_t n = ::write(fd, data + done, len - done);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (problem == nullptr) problem = "writing to /dev/urandom failed";
        break;
      }
    }
  }
  ::close(fd);
  return credited;
}

// ------------------------------------------------------------ the files

// One run of boot or shutdown work on one directory. Every problem is kept
// (the first one) and at most one warning is printed per run, so a broken
// disk makes one line, not a line per step.
struct Run {
  const char* dir;
  SeedOptions options;
  int dfd = -1;
  bool volatile_fs = false;
  bool warned = false;
  SeedOutcome out{};

  void problem(const char* what, int err) noexcept {
    if (out.problem == nullptr) out.problem = what;
    if (warned) return;
    warned = true;
    if (err == EROFS) {
      log::msg(log::Level::Warn, "random seed: %s is on a read-only file system: the seed is not replaced", dir);
    } else if (err != 0) {
      log::msg(log::Level::Warn, "random seed: %s: %s: %s", dir, what, std::strerror(err));
    } else {
      log::msg(log::Level::Warn, "random seed: %s: %s", dir, what);
    }
  }
};

// The seed directory, opened one component at a time from / and created
// where missing (the directory itself 0700: a seed is a secret; parents
// 0755). A symlink on the way is followed only when keel's own user owns
// it (the image's /var -> /data/var, say): one a service planted (on a data
// partition it can write) would point keel's seed, and the files keel
// removes, somewhere else. The directory itself must be keel's and
// writable by no one else, or another user could swap the seed. Returns
// the descriptor, or -1 with `what` and `err` set.
int open_seed_dir(const char* dir, const char*& what, int& err) noexcept {
  char path[PATH_MAX];
  std::size_t len = std::strlen(dir);
  what = "cannot open the seed directory";
  if (len == 0 || len >= sizeof path || dir[0] != '/') {
    err = len >= sizeof path ? ENAMETOOLONG : EINVAL;
    return -1;
  }
  std::memcpy(path, dir, len + 1);
  int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  char* name = path;
  while (true) {
    while (*name == '/') ++name;
    if (*name == '\0') break;
    char* end = std::strchr(name, '/');
    if (end != nullptr) *end = '\0';
    bool leaf = end == nullptr || end[1 + std::strspn(end + 1, "/")] == '\0';
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
    int next = ::openat(fd, name, kFlags);
    if (next < 0 && errno == ENOENT) {
      if (::mkdirat(fd, name, leaf ? 0700 : 0755) != 0 && errno != EEXIST) {
        err = errno;
        what = "cannot create the seed directory";
        ::close(fd);
        return -1;
      }
      next = ::openat(fd, name, kFlags);
    }
    if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      struct stat st{};
      if (::fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        if (st.st_uid != ::geteuid()) {
          what = "a symlink on the way to the seed directory is not keel's: not followed";
          err = 0;
          ::close(fd);
          return -1;
        }
        next = ::openat(fd, name, kFlags & ~O_NOFOLLOW);
      } else {
        errno = ENOTDIR;
      }
    }
    if (next < 0) {
      err = errno;
      ::close(fd);
      return -1;
    }
    ::close(fd);
    fd = next;
    if (end == nullptr) break;
    name = end + 1;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    what = "the seed directory is writable by others or not keel's: not used";
    err = 0;
    ::close(fd);
    return -1;
  }
  return fd;
}

bool is_volatile_type(const struct statfs& st) noexcept {
  return st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC;
}

bool is_volatile(int dfd) noexcept {
  struct statfs st{};
  return ::fstatfs(dfd, &st) == 0 && is_volatile_type(st);
}

// Whether `dir`, or when it does not exist the nearest directory above it
// that does, is on tmpfs/ramfs; `exists`: whether `dir` itself does. Only
// a probe (statfs follows links; what is then opened is checked with
// care in open_seed_dir): a wrong answer costs a seed written for nothing
// or not written, never a seed read from the wrong place.
bool path_is_volatile(const char* dir, bool& exists) noexcept {
  char path[PATH_MAX];
  const std::size_t n = std::strlen(dir);
  exists = false;
  if (n == 0 || n >= sizeof path) return false;
  std::memcpy(path, dir, n + 1);
  for (bool first = true;; first = false) {
    struct statfs st{};
    if (::statfs(path, &st) == 0) {
      exists = first;
      return is_volatile_type(st);
    }
    if (errno != ENOENT) return false;
    char* slash = std::strrchr(path, '/');
    if (slash == nullptr) return false;
    if (slash == path) {
      if (path[1] == '\0') return false;  // "/" itself is missing?
      path[1] = '\0';
    } else {
      *slash = '\0';
    }
  }
}

struct OldSeed {
  unsigned char bytes[kSeedBytes + 1];  // one more, to tell an oversized file
  std::size_t len = 0;
  bool present = false;
  bool trustworthy = false;  // a regular file only its owner (keel) could have written
  bool oversized = false;
};

// Read `name` without following a symlink and without blocking (a FIFO
// planted there must not hang PID 1). ENOENT is the normal first boot.
void read_old(Run& run, const char* name, OldSeed& seed) noexcept {
  int fd = ::openat(run.dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return;
    seed.present = true;  // something is there; it is removed below
    run.problem(errno == ELOOP ? "a seed file is a symlink: ignored" : "a seed file cannot be opened", errno);
    return;
  }
  seed.present = true;
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    run.problem("a seed file is not a regular file: ignored", 0);
    return;
  }
  seed.trustworthy = st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  while (seed.len < sizeof seed.bytes) {
    ssize_t n = ::read(fd, seed.bytes + seed.len, sizeof seed.bytes - seed.len);
    if (n > 0) {
      seed.len += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n < 0) {
        run.problem("a seed file cannot be read: ignored", errno);
        seed.len = 0;
      }
      break;
    }
  }
  ::close(fd);
  if (seed.len > kSeedBytes) {
    seed.oversized = true;
    seed.len = kSeedBytes;
  }
}

// Remove `name` and make the removal durable. True only when both worked:
// only then may the bytes just read be credited.
bool remove_durably(Run& run, const char* name) noexcept {
  if (::unlinkat(run.dfd, name, 0) != 0 && errno != ENOENT) {
    run.problem("cannot remove the old seed", errno);
    return false;
  }
  if (::fsync(run.dfd) != 0) {
    run.problem("cannot sync the seed directory", errno);
    return false;
  }
  return true;
}

// The bytes of each old seed, and the clocks, go into the hash that ends
// the new seed (as SeedRNG: length, then bytes).
void hash_seed(Blake2s& hash, const unsigned char* bytes, std::size_t len) noexcept {
  std::uint64_t n = len;
  hash.update(&n, sizeof n);
  hash.update(bytes, len);
}

// At boot: consume one seed file. `creditable_name`: it is seed.credit.
void consume(Run& run, Blake2s& hash, const char* name, bool creditable_name) noexcept {
  OldSeed seed;
  read_old(run, name, seed);
  if (!seed.present) return;
  // Removed (and synced) BEFORE use: a crash from here on cannot make the
  // next boot credit these bytes again.
  bool removed = remove_durably(run, name);
  if (seed.len == 0) return;
  run.out.found = true;
  hash_seed(hash, seed.bytes, seed.len);
  bool credit = creditable_name && removed && seed.trustworthy && !seed.oversized &&
                seed.len >= kMinCreditableSeedBytes && (!run.volatile_fs || run.options.volatile_as_disk);
  if (creditable_name && !credit && run.out.problem == nullptr) {
    if (!seed.trustworthy) {
      run.out.problem = "seed.credit is writable by others or not keel's: not credited";
    } else if (seed.oversized) {
      run.out.problem = "seed.credit is longer than a seed: not credited";
    } else if (seed.len < kMinCreditableSeedBytes) {
      run.out.problem = "seed.credit is too short: not credited";
    } else if (run.volatile_fs && !run.options.volatile_as_disk) {
      run.out.problem = "the seed is on tmpfs (it cannot have survived a reboot): not credited";
    }
  }
  run.out.bytes += seed.len;
  if (credit) run.out.creditable = true;
  if (run.options.feed_kernel) {
    const char* why = nullptr;
    if (feed_kernel(seed.bytes, seed.len, credit, why)) run.out.credited = true;
    if (why != nullptr) run.problem(why, 0);
  }
  std::memset(seed.bytes, 0, sizeof seed.bytes);
}

// At shutdown: the seed on disk is not fed again (crediting it twice would
// count the same bytes twice), only hashed into the new one.
void absorb(Run& run, Blake2s& hash, const char* name) noexcept {
  OldSeed seed;
  read_old(run, name, seed);
  if (seed.len == 0) return;
  run.out.found = true;
  hash_seed(hash, seed.bytes, seed.len);
  std::memset(seed.bytes, 0, sizeof seed.bytes);
}

bool write_all(int fd, const unsigned char* data, std::size_t len) noexcept {
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, data + done, len - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0) errno = EIO;
      return false;
    }
  }
  return true;
}

// Draw a new seed, end it with the hash of everything before, and store it
// atomically: a reader (the next boot) sees the old file or the whole new
// one, never a part.
void write_new(Run& run, Blake2s& hash) noexcept {
  unsigned char seed[kSeedBytes];
  bool creditable = false;
  if (!draw_seed(seed, sizeof seed, creditable)) {
    run.problem("no source of random bytes answered", errno);
    return;
  }
  hash_seed(hash, seed, sizeof seed);
  hash.final(seed + sizeof seed - kHashBytes);

  const char* name = creditable ? kCreditableSeedName : kNonCreditableSeedName;
  const char* other = creditable ? kNonCreditableSeedName : kCreditableSeedName;
  // A temporary file a crash left behind may be 0400 and not ours to open.
  (void)::unlinkat(run.dfd, kTempName, 0);
  int fd = ::openat(run.dfd, kTempName, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0400);
  if (fd < 0) {
    run.problem("cannot create the new seed", errno);
    std::memset(seed, 0, sizeof seed);
    return;
  }
  bool ok = write_all(fd, seed, sizeof seed) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  std::memset(seed, 0, sizeof seed);
  if (!ok) {
    (void)::unlinkat(run.dfd, kTempName, 0);
    run.problem("cannot write the new seed", err);
    return;
  }
  if (::renameat(run.dfd, kTempName, run.dfd, name) != 0) {
    err = errno;
    (void)::unlinkat(run.dfd, kTempName, 0);
    run.problem("cannot rename the new seed into place", err);
    return;
  }
  // At shutdown the other name may still hold the boot's seed; it has been
  // hashed into this one, and two files would feed the same bytes twice.
  (void)::unlinkat(run.dfd, other, 0);
  if (::fsync(run.dfd) != 0) {
    run.problem("cannot sync the seed directory", errno);
    return;
  }
  run.out.written = true;
  run.out.new_creditable = creditable;
}

// Open (creating it when missing) the seed directory; false when there is
// none to use, after one warning.
bool open_dir(Run& run) noexcept {
  const char* what = nullptr;
  int err = 0;
  run.dfd = open_seed_dir(run.dir, what, err);
  if (run.dfd < 0) {
    run.problem(what, err);
    return false;
  }
  run.volatile_fs = is_volatile(run.dfd);
  return true;
}

// The hash starts with a label and both clocks, as SeedRNG's does: two
// boots that read the same seed (a cloned disk) still write different ones.
void start_hash(Blake2s& hash) noexcept {
  static constexpr char kLabel[] = "keel seed v1: old+new";
  hash.update(kLabel, sizeof kLabel - 1);
  struct timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  hash.update(&ts, sizeof ts);
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  hash.update(&ts, sizeof ts);
}

}  // namespace

bool draw_seed(unsigned char* buf, std::size_t len, bool& creditable) noexcept {
  creditable = false;
  if (getrandom_all(buf, len, GRND_NONBLOCK)) {
    creditable = true;
    return true;
  }
  // EAGAIN: the RNG is not initialised yet. Its output still mixes
  // whatever the kernel has, and the hash adds the old seeds; the file is
  // stored as not creditable. GRND_INSECURE is Linux 5.6+ (EINVAL before).
  if (getrandom_all(buf, len, GRND_INSECURE)) return true;
  // /dev/urandom only where GRND_INSECURE does not exist: since Linux 5.18
  // a read of /dev/urandom before the RNG is ready runs the kernel's jitter
  // entropy generator in the reader (about a second under QEMU's TCG),
  // which is a wait on the RNG; before 5.6 it returns at once.
  if (errno != EINVAL && errno != ENOSYS) return false;
  return read_urandom(buf, len);
}

void blake2s_256(const void* data, std::size_t len, unsigned char out[32]) noexcept {
  Blake2s hash;
  hash.update(data, len);
  hash.final(out);
}

SeedOutcome seed_kernel_rng(const char* seed_dir, const SeedOptions& options) noexcept {
  Run run{seed_dir, options};
  bool exists = false;
  run.out.in_memory = !options.volatile_as_disk && path_is_volatile(seed_dir, exists);
  auto say_none_kept = [seed_dir] {
    log::msg(log::Level::Info, "random seed: none kept: %s is in memory (set seed_dir to a disk's directory)",
             seed_dir);
  };
  if (run.out.in_memory && !exists) {
    say_none_kept();
    return run.out;
  }
  if (!open_dir(run)) return run.out;
  Blake2s hash;
  start_hash(hash);
  // The non-creditable one first, as SeedRNG: if both exist (a shutdown
  // that crashed between its writes), both are mixed, one is credited.
  consume(run, hash, kNonCreditableSeedName, false);
  consume(run, hash, kCreditableSeedName, true);
  if (!run.out.in_memory) write_new(run, hash);
  ::close(run.dfd);

  if (run.out.in_memory && run.out.found) {
    log::msg(log::Level::Info, "random seed: %zu bytes from %s mixed in without credit; none kept: it is in memory",
             run.out.bytes, seed_dir);
  } else if (run.out.in_memory) {
    say_none_kept();
  } else if (!run.out.found) {
    if (run.out.written) {
      log::msg(log::Level::Info, "random seed: none in %s yet (first boot); a new one is saved", seed_dir);
    }
  } else {
    log::msg(log::Level::Info, "random seed: %zu bytes from %s %s; new seed %s", run.out.bytes, seed_dir,
             run.out.credited ? "credited" : "mixed in without credit",
             !run.out.written ? "not saved" : run.out.new_creditable ? "saved (creditable)" : "saved (not creditable)");
  }
  return run.out;
}

SeedOutcome refresh_seed(const char* seed_dir, const SeedOptions& options) noexcept {
  Run run{seed_dir, options};
  bool exists = false;
  run.out.in_memory = !options.volatile_as_disk && path_is_volatile(seed_dir, exists);
  if (run.out.in_memory) return run.out;  // said at boot
  if (!open_dir(run)) return run.out;
  Blake2s hash;
  start_hash(hash);
  absorb(run, hash, kNonCreditableSeedName);
  absorb(run, hash, kCreditableSeedName);
  write_new(run, hash);
  ::close(run.dfd);
  if (run.out.written) {
    log::msg(log::Level::Info, "random seed: refreshed in %s (%s)", seed_dir,
             run.out.new_creditable ? "creditable" : "not creditable");
  }
  return run.out;
}

}  // namespace keel
