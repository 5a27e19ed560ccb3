// block_device.hpp — the disk root's device, found by keel itself.
//
// The stage (system/switch_root.hpp) is given a device the way the kernel
// command line names one (docs/system-mode.md, "Booting from a disk root"):
//
//   /dev/vda           a device node's path
//   LABEL=keel-root    the filesystem's label (ext4 s_volume_name, erofs
//                      volume_name)
//   UUID=1b4e...       the filesystem's UUID, any case, with its dashes
//   PARTLABEL=keel-root  the GPT partition's name (the kernel's PARTNAME in
//                      /sys/class/block/NAME/uevent)
//   PARTUUID=0b5c...   the GPT partition's unique GUID, any case, with its
//                      dashes: not in the uevent, so each whole disk's GPT is
//                      read (system/gpt.hpp) and the partition with that
//                      entry's number (PARTN) under that disk is the device
//
// A minimal image has no blkid and no udev, so the superblocks are read
// here: ext4's and erofs's both start at byte 1024 of the device. Only
// these two filesystems are known (the stage's roots); anything else is
// "no filesystem keel knows" and matches no LABEL= or UUID=.
//
// Reading a device may block (a dead disk): the stage calls these from its
// bounded child, never from PID 1 (switch_root.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace keel {

enum class DeviceKey { Path, Label, Uuid, PartLabel, PartUuid };

struct DeviceSpec {
  DeviceKey key = DeviceKey::Path;
  std::string value;  // the path, label, UUID or PARTUUID (canonical, lower case) or partition name
};

// `root=` / keel.data's SPEC. nullopt for an empty value, an empty label,
// a path that is not absolute, a UUID that is not hex digits and dashes,
// or a value with a control character or longer than kDeviceSpecMax.
[[nodiscard]] std::optional<DeviceSpec> parse_device_spec(std::string_view text);
// "LABEL=keel-root", for messages.
[[nodiscard]] std::string describe(const DeviceSpec& spec);

enum class FsType { Unknown, Ext4, Erofs };
[[nodiscard]] const char* fs_type_name(FsType type) noexcept;

struct FsIdentity {
  FsType type = FsType::Unknown;
  std::string label;  // up to 16 bytes, to the first NUL
  std::string uuid;   // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case
};

// The first kSuperblockBytes bytes of a device (fewer: Unknown).
inline constexpr std::size_t kSuperblockBytes = 2048;
[[nodiscard]] FsIdentity identify_superblock(const unsigned char* data, std::size_t length) noexcept;
// Reads the device (or image file) at `path`. Unknown when it cannot be read.
[[nodiscard]] FsIdentity identify_device(const char* path);

// A /sys/class/block/NAME/uevent's DEVNAME=, PARTNAME=, DEVTYPE= and
// PARTN= (empty when absent).
struct Uevent {
  std::string devname;
  std::string partname;
  std::string devtype;  // "disk", "partition"
  std::string partn;    // the partition's number on its disk
};
[[nodiscard]] Uevent parse_uevent(std::string_view text);

// Where to look: the real system's, or a test's directories.
struct BlockDirs {
  std::string sys_class_block = "/sys/class/block";
  std::string dev = "/dev";
};

// One look: the device node (DEV/DEVNAME) that matches `spec` now, or
// empty. A path matches when it is a block device (or, for tests, a
// regular file). `why`, when given, gets what made a disk unreadable for
// PARTUUID= ("/dev/vda: the GPT header's CRC32 is wrong"), for messages.
[[nodiscard]] std::string find_block_device(const DeviceSpec& spec, const BlockDirs& dirs = {},
                                            std::string* why = nullptr);

// Looks every 50 ms until it appears or `timeout_ms` passed (then empty).
[[nodiscard]] std::string wait_for_block_device(const DeviceSpec& spec, long timeout_ms, const BlockDirs& dirs = {},
                                                std::string* why = nullptr);

}  // namespace keel
