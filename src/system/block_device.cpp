#include "system/block_device.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include "core/limits.hpp"
#include "core/read_file.hpp"
#include "system/gpt.hpp"

namespace keel {
namespace {

constexpr std::size_t kSuperblockOffset = 1024;
// ext4 (struct ext4_super_block): s_magic, s_uuid, s_volume_name.
constexpr std::size_t kExt4Magic = 0x38;
constexpr std::size_t kExt4Uuid = 0x68;
constexpr std::size_t kExt4Label = 0x78;
constexpr std::uint16_t kExt4MagicValue = 0xEF53;
// erofs (struct erofs_super_block): magic, uuid, volume_name.
constexpr std::size_t kErofsUuid = 48;
constexpr std::size_t kErofsLabel = 64;
constexpr std::uint32_t kErofsMagicValue = 0xE0F5E1E2;

std::uint16_t le16(const unsigned char* p) noexcept { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::string label_of(const unsigned char* p) {
  std::size_t n = 0;
  while (n < 16 && p[n] != 0) ++n;
  return {reinterpret_cast<const char*>(p), n};
}

std::string uuid_of(const unsigned char* p) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0xF];
  }
  return out;
}

bool is_hex_or_dash(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The device node for a DEVNAME ("vda", "nvme0n1p2"): DEV/DEVNAME, only
// when DEVNAME is a plain name (a hostile uevent cannot point outside DEV).
std::string node_path(const BlockDirs& dirs, const std::string& devname) {
  if (devname.empty() || devname == "." || devname == ".." || devname.find('/') != std::string::npos) return {};
  return dirs.dev + "/" + devname;
}

bool is_device_or_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && (S_ISBLK(st.st_mode) || S_ISREG(st.st_mode));
}

bool matches(const DeviceSpec& spec, const Uevent& ev, const std::string& node) {
  switch (spec.key) {
    case DeviceKey::PartLabel: return !ev.partname.empty() && ev.partname == spec.value;
    case DeviceKey::Label: {
      FsIdentity id = identify_device(node.c_str());
      return id.type != FsType::Unknown && id.label == spec.value;
    }
    case DeviceKey::Uuid: {
      FsIdentity id = identify_device(node.c_str());
      return id.type != FsType::Unknown && id.uuid == spec.value;
    }
    case DeviceKey::PartUuid:
    case DeviceKey::Path: return false;
  }
  return false;
}

Uevent read_uevent(const BlockDirs& dirs, const char* name) {
  std::string text;
  const std::string uevent = dirs.sys_class_block + "/" + name + "/uevent";
  if (!read_file(uevent.c_str(), text, std::size_t{64} * 1024)) return {};
  return parse_uevent(text);
}

// PARTUUID=: the GPT of each whole disk is read; the partition whose PARTN
// is the matching entry's number and which sits under that disk in sysfs
// (/sys/class/block/DISK/PART) is the device.
std::string find_by_partuuid(const DeviceSpec& spec, const BlockDirs& dirs, std::string* why) {
  struct Disk {
    std::string name;
    int partition;
  };
  std::vector<Disk> hits;
  std::vector<std::pair<std::string, Uevent>> parts;
  DIR* dir = ::opendir(dirs.sys_class_block.c_str());
  if (dir == nullptr) return {};
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    Uevent ev = read_uevent(dirs, entry->d_name);
    if (ev.devtype == "partition") {
      parts.emplace_back(entry->d_name, std::move(ev));
      continue;
    }
    if (ev.devtype != "disk") continue;
    const std::string node = node_path(dirs, ev.devname);
    if (node.empty() || !is_device_or_file(node)) continue;
    const GptMatch m = gpt_find_partition(node.c_str(), spec.value);
    if (m.partition > 0) {
      hits.push_back({entry->d_name, m.partition});
    } else if (why != nullptr && !m.error.empty() && m.error != "no GPT header at LBA 1") {
      *why = node + ": " + m.error;
    }
  }
  ::closedir(dir);
  std::string found;
  for (const Disk& disk : hits) {
    for (const auto& [name, ev] : parts) {
      if (ev.partn != std::to_string(disk.partition)) continue;
      struct stat st{};
      const std::string under = dirs.sys_class_block + "/" + disk.name + "/" + name;
      if (::stat(under.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      const std::string node = node_path(dirs, ev.devname);
      if (node.empty() || !is_device_or_file(node)) continue;
      // The first in name order, as for the other keys.
      if (found.empty() || node < found) found = node;
    }
  }
  return found;
}

}  // namespace

std::optional<DeviceSpec> parse_device_spec(std::string_view text) {
  if (text.empty() || text.size() > limits::kDeviceSpecMax) return std::nullopt;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return std::nullopt;
  }
  DeviceSpec spec;
  auto take = [&](std::string_view prefix, DeviceKey key) {
    if (!text.starts_with(prefix)) return false;
    spec.key = key;
    spec.value = std::string(text.substr(prefix.size()));
    return true;
  };
  if (take("LABEL=", DeviceKey::Label) || take("PARTLABEL=", DeviceKey::PartLabel)) {
    if (spec.value.empty()) return std::nullopt;
    return spec;
  }
  if (take("UUID=", DeviceKey::Uuid) || take("PARTUUID=", DeviceKey::PartUuid)) {
    // Compared in the canonical 8-4-4-4-12 lower-case form, however the
    // command line wrote it.
    std::string digits;
    for (char c : spec.value) {
      if (!is_hex_or_dash(c)) return std::nullopt;
      if (c != '-') digits += lower(c);
    }
    if (digits.size() != 32) return std::nullopt;
    spec.value.clear();
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) spec.value += '-';
      spec.value += digits[i];
    }
    return spec;
  }
  if (text.front() != '/' || text.find("/../") != std::string_view::npos || text.ends_with("/..")) return std::nullopt;
  spec.key = DeviceKey::Path;
  spec.value = std::string(text);
  return spec;
}

std::string describe(const DeviceSpec& spec) {
  switch (spec.key) {
    case DeviceKey::Label: return "LABEL=" + spec.value;
    case DeviceKey::Uuid: return "UUID=" + spec.value;
    case DeviceKey::PartLabel: return "PARTLABEL=" + spec.value;
    case DeviceKey::PartUuid: return "PARTUUID=" + spec.value;
    case DeviceKey::Path: return spec.value;
  }
  return spec.value;
}

const char* fs_type_name(FsType type) noexcept {
  switch (type) {
    case FsType::Ext4: return "ext4";
    case FsType::Erofs: return "erofs";
    case FsType::Unknown: return "unknown";
  }
  return "unknown";
}

FsIdentity identify_superblock(const unsigned char* data, std::size_t length) noexcept {
  FsIdentity id;
  if (data == nullptr || length < kSuperblockBytes) return id;
  const unsigned char* sb = data + kSuperblockOffset;
  try {
    if (le32(sb) == kErofsMagicValue) {
      id.type = FsType::Erofs;
      id.uuid = uuid_of(sb + kErofsUuid);
      id.label = label_of(sb + kErofsLabel);
    } else if (le16(sb + kExt4Magic) == kExt4MagicValue) {
      id.type = FsType::Ext4;
      id.uuid = uuid_of(sb + kExt4Uuid);
      id.label = label_of(sb + kExt4Label);
    }
  } catch (...) {
    return {};
  }
  return id;
}

FsIdentity identify_device(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return {};
  unsigned char buf[kSuperblockBytes];
  std::size_t have = 0;
  while (have < sizeof buf) {
    const ssize_t n = ::pread(fd, buf + have, sizeof buf - have, static_cast<off_t>(have));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return identify_superblock(buf, have);
}

Uevent parse_uevent(std::string_view text) {
  Uevent ev;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    if (line.starts_with("DEVNAME=")) ev.devname = std::string(line.substr(8));
    if (line.starts_with("PARTNAME=")) ev.partname = std::string(line.substr(9));
    if (line.starts_with("DEVTYPE=")) ev.devtype = std::string(line.substr(8));
    if (line.starts_with("PARTN=")) ev.partn = std::string(line.substr(6));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return ev;
}

std::string find_block_device(const DeviceSpec& spec, const BlockDirs& dirs, std::string* why) {
  if (spec.key == DeviceKey::Path) return is_device_or_file(spec.value) ? spec.value : std::string();
  if (spec.key == DeviceKey::PartUuid) return find_by_partuuid(spec, dirs, why);
  DIR* dir = ::opendir(dirs.sys_class_block.c_str());
  if (dir == nullptr) return {};
  std::string found;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::string text;
    const std::string uevent = dirs.sys_class_block + "/" + entry->d_name + "/uevent";
    if (!read_file(uevent.c_str(), text, std::size_t{64} * 1024)) continue;
    const Uevent ev = parse_uevent(text);
    const std::string node = node_path(dirs, ev.devname);
    if (node.empty() || !is_device_or_file(node)) continue;
    if (matches(spec, ev, node)) {
      // The first in name order, so two disks with one label give the
      // same answer at every boot.
      if (found.empty() || node < found) found = node;
    }
  }
  ::closedir(dir);
  return found;
}

std::string wait_for_block_device(const DeviceSpec& spec, long timeout_ms, const BlockDirs& dirs, std::string* why) {
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    std::string node = find_block_device(spec, dirs, why);
    if (!node.empty()) return node;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1'000'000;
    if (elapsed_ms >= timeout_ms) return {};
    timespec pause{0, 50'000'000};
    ::nanosleep(&pause, nullptr);
  }
}

}  // namespace keel
