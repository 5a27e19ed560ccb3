// random_seed.hpp — a random seed carried across boots, as SeedRNG does it.
//
// A machine without a hardware RNG (no RDRAND, no virtio-rng) boots with the
// kernel's RNG uninitialised, and anything that asks for good randomness
// waits. A seed saved at the previous shutdown fixes that: at boot keel
// feeds it to the kernel and, when it was written by an initialised RNG,
// credits it, so the RNG is ready at once. The rules follow Jason
// Donenfeld's SeedRNG:
//
//   * two file names in one directory: `seed.credit` (written when the RNG
//     was initialised: its bytes may be credited) and `seed.no-credit`
//     (written before: mixed in, never credited);
//   * a seed is removed, and the removal made durable (fsync of the
//     directory), BEFORE it is used, so a crash can never make the next
//     boot credit the same bytes twice;
//   * a new seed is written at once: fresh kernel bytes whose last 32 bytes
//     are replaced by a BLAKE2s hash of the old seeds, the clocks and the
//     fresh bytes, so a seed drawn before the RNG was ready still carries
//     everything the old ones had;
//   * it is written atomically (temporary file, fsync, rename, fsync of the
//     directory), mode 0400, in a 0700 directory.
//
// keel never blocks on the RNG here: getrandom() always has GRND_NONBLOCK
// (then GRND_INSECURE, then /dev/urandom), and /dev/random is never opened.
// Nothing throws or allocates (512-byte stack buffers); problems are logged
// once and returned in the outcome.
#pragma once

#include <cstddef>

namespace keel {

// Where the seed lives unless configured otherwise.
inline constexpr const char* kDefaultSeedDir = "/var/lib/keel/seed";
inline constexpr const char* kCreditableSeedName = "seed.credit";
inline constexpr const char* kNonCreditableSeedName = "seed.no-credit";

// SeedRNG's bounds: a seed is at most 512 bytes (4096 bits, more than any
// kernel's pool holds), and a creditable one shorter than a hash (32 bytes)
// is not something this code wrote, so it is mixed in without credit.
inline constexpr std::size_t kSeedBytes = 512;
inline constexpr std::size_t kMinCreditableSeedBytes = 32;

struct SeedOutcome {
  bool found = false;             // at least one old seed file was read
  bool creditable = false;        // ... and one qualified for credit (see consume())
  bool credited = false;          // some of it was credited to the kernel
  std::size_t bytes = 0;          // old seed bytes fed to the kernel (credited or not)
  bool written = false;           // a new seed is on disk
  bool new_creditable = false;    // ... as seed.credit (the RNG was ready)
  bool in_memory = false;         // seed_dir is on tmpfs/ramfs: nothing written there
  const char* problem = nullptr;  // the first thing that went wrong (static), or null
};

struct SeedOptions {
  // Feed the old seed to the kernel. Tests turn it off to exercise the file
  // handling without touching the host's RNG.
  bool feed_kernel = true;
  // A seed on tmpfs/ramfs cannot have survived a power cycle: it was built
  // into the image (the same bytes at every boot) or written during this
  // boot, so by default it is never credited; and nothing is written there
  // (a seed in memory is lost at power-off: writing it is work for
  // nothing). Tests on a tmpfs turn this on: the tmpfs is then a disk.
  bool volatile_as_disk = false;
};

// At boot: read, remove and feed the seed(s) in `seed_dir` (created, with its
// parents, when missing), then write a fresh one. No seed (first boot) is
// one info line; a read-only filesystem one warning. When seed_dir (or, if
// it does not exist yet, the nearest directory above it that does) is on
// tmpfs or ramfs (an initramfs's root), nothing is created or written: a
// seed found there is mixed in without credit, and one info line says the
// seed is not kept.
SeedOutcome seed_kernel_rng(const char* seed_dir, const SeedOptions& options) noexcept;
inline SeedOutcome seed_kernel_rng(const char* seed_dir) noexcept { return seed_kernel_rng(seed_dir, SeedOptions{}); }

// At shutdown: write a fresh seed (creditable iff the RNG is ready now). The
// seed on disk is hashed into the new one, never fed to the kernel again.
// Nothing on tmpfs/ramfs (as at boot).
SeedOutcome refresh_seed(const char* seed_dir, const SeedOptions& options = SeedOptions{}) noexcept;

// What a new seed would be now: `len` (<= kSeedBytes) bytes from the kernel
// without ever blocking; `creditable` is true iff the RNG was initialised.
// False only when no source answered at all.
bool draw_seed(unsigned char* buf, std::size_t len, bool& creditable) noexcept;

// BLAKE2s-256, exposed for its test vectors.
void blake2s_256(const void* data, std::size_t len, unsigned char out[32]) noexcept;

}  // namespace keel
