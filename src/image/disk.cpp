// disk.cpp — see disk.hpp.
#include "image/disk.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include <toml++/toml.h>

#include "image/diagnostic.hpp"
#include "image/erofs.hpp"
#include "image/ext4.hpp"
#include "image/spec.hpp"
#include "service/toml_guard.hpp"
#include "system/random_seed.hpp"

namespace keel::image {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSector = 512;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kEntries = 128;
constexpr std::uint64_t kEntrySize = 128;
constexpr std::uint64_t kEntrySectors = kEntries * kEntrySize / kSector;  // 32

// Partition types: the root of the Discoverable Partitions Specification
// for x86-64 (what systemd-gpt-auto-generator and others look for), and
// "Linux filesystem data" for the data partition.
constexpr const char* kRootType = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
constexpr const char* kLinuxDataType = "0fc63daf-8483-4772-8e79-3d69d8477de4";

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

void put_le(std::string& buf, std::size_t at, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) buf[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}

// "00112233-4455-6677-8899-aabbccddeeff" as GPT stores it: the first three
// fields little-endian, the last two as written.
std::array<unsigned char, 16> guid_bytes(const std::string& text) {
  std::array<unsigned char, 16> raw{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size() && n < 32; ++i) {
    const char c = text[i];
    if (c == '-') continue;
    const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) throw ImageError("bad GUID " + text);
    raw[n / 2] = static_cast<unsigned char>(raw[n / 2] << 4 | v);
    ++n;
  }
  if (n != 32) throw ImageError("bad GUID " + text);
  std::array<unsigned char, 16> g = raw;
  for (std::size_t i = 0; i < 4; ++i) g[i] = raw[3 - i];
  g[4] = raw[5];
  g[5] = raw[4];
  g[6] = raw[7];
  g[7] = raw[6];
  return g;
}

void put_guid(std::string& buf, std::size_t at, const std::string& text) {
  const auto g = guid_bytes(text);
  std::memcpy(&buf[at], g.data(), g.size());
}

std::uint32_t crc32_of(const std::string& buf, std::size_t at, std::size_t n) {
  return static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(buf.data() + at), static_cast<uInt>(n)));
}

std::string header(const std::string& disk_guid, std::uint64_t my_lba, std::uint64_t other_lba,
                   std::uint64_t last_usable, std::uint64_t entries_lba, std::uint32_t entries_crc) {
  std::string h(kSector, '\0');
  std::memcpy(h.data(), "EFI PART", 8);
  put_le(h, 8, 0x00010000, 4);  // revision 1.0
  put_le(h, 12, 92, 4);         // header size
  put_le(h, 24, my_lba, 8);
  put_le(h, 32, other_lba, 8);
  put_le(h, 40, 2 + kEntrySectors, 8);  // first usable LBA: 34
  put_le(h, 48, last_usable, 8);
  put_guid(h, 56, disk_guid);
  put_le(h, 72, entries_lba, 8);
  put_le(h, 80, kEntries, 4);
  put_le(h, 84, kEntrySize, 4);
  put_le(h, 88, entries_crc, 4);
  put_le(h, 16, crc32_of(h, 0, 92), 4);
  return h;
}

// Copies `from` into `fd` at `offset`, leaving all-zero blocks as holes
// (the disk file was truncated to its size: they read as zeros).
void copy_into(int fd, const fs::path& from, std::uint64_t offset, const fs::path& out) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw ImageError(from.string(), 0, "cannot read the partition image");
  std::string buf(1 << 16, '\0');
  std::uint64_t at = offset;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    const bool zero = std::all_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), [](char c) { return c == 0; });
    if (!zero && ::pwrite(fd, buf.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n)) {
      throw ImageError(out.string(), 0, std::string("cannot write the disk image: ") + std::strerror(errno));
    }
    at += n;
  }
}

// The plan with the directories the stage mounts on added where missing.
ImagePlan with_mount_points(const ImagePlan& plan, const DiskSpec& disk, bool data) {
  ImagePlan out = plan;
  std::set<std::string> have;
  for (const ImageEntry& e : plan.entries) have.insert(e.path);
  std::vector<std::string> wanted = disk.tmpfs;
  if (data) wanted.push_back(disk.data_mount);
  for (const std::string& path : wanted) {
    for (std::string p = path; p != "/" && !p.empty(); p = p.substr(0, std::max<std::size_t>(p.rfind('/'), 1))) {
      if (!have.insert(p).second) continue;
      ImageEntry e;
      e.path = p;
      e.kind = EntryKind::Directory;
      e.mode = p == "/tmp" ? 01777 : 0755;
      e.origin = "[disk] mount point";
      out.entries.push_back(std::move(e));
      if (p.rfind('/') == 0) break;
    }
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const ImageEntry& a, const ImageEntry& b) { return a.path < b.path; });
  return out;
}

// ---- The random seed on the data partition.
// keel's default seed_dir (/var/lib/keel/seed) is useless where the root
// does not keep what is written: an erofs root (read-only; /var is then a
// [disk] tmpfs) or a tmpfs over /var/lib on an ext4 root. The seed is lost
// at every boot and the RNG starts empty. With a data partition, keel.toml
// in the image gets seed_dir = "<data_mount>/keel/seed" unless the spec's
// own keel.toml sets seed_dir; keel creates the directory at first boot.

bool under(const std::string& path, const std::string& dir) {
  return dir == "/" || path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                                       path[dir.size()] == '/');
}

// Whether keel's default seed directory keeps its files across a reboot on this root.
bool default_seed_persists(const DiskSpec& disk, OutputFormat root) {
  if (root == OutputFormat::erofs) return false;
  return std::none_of(disk.tmpfs.begin(), disk.tmpfs.end(),
                      [](const std::string& t) { return under(kDefaultSeedDir, t); });
}

std::string read_host_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageError(path.string(), 0, "cannot read keel.toml");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The plan with keel.toml's seed_dir on the data partition. The spec's own
// keel.toml keeps every line; the key goes first (a root-table key must come
// before any [table]), so keel's file:line messages about that file count
// one line more than its source. A keel.toml that does not parse is left
// alone: keel reports it at boot, with or without this line.
ImagePlan with_seed_dir(const ImagePlan& plan, const Spec& spec, const DiskSpec& disk, std::vector<std::string>& notes) {
  const std::string dir = (disk.data_mount == "/" ? std::string() : disk.data_mount) + "/keel/seed";
  const std::string line = "seed_dir = \"" + dir + "\"  # keel-image: the random seed on the data partition\n";
  const std::string config_dir = spec.keel->config_dir == "/" ? std::string() : spec.keel->config_dir;
  const std::string keel_toml = config_dir + "/keel.toml";
  ImagePlan out = plan;
  auto it = std::find_if(out.entries.begin(), out.entries.end(),
                         [&](const ImageEntry& e) { return e.path == keel_toml; });
  if (it == out.entries.end()) {
    ImageEntry e;
    e.path = keel_toml;
    e.kind = EntryKind::File;
    e.mode = 0644;
    e.content = line;
    e.origin = "[disk] data partition (seed_dir)";
    out.entries.push_back(std::move(e));
    std::sort(out.entries.begin(), out.entries.end(),
              [](const ImageEntry& a, const ImageEntry& b) { return a.path < b.path; });
    notes.push_back("the random seed is kept on the data partition: " + keel_toml + " has seed_dir = \"" + dir + "\"");
    return out;
  }
  if (it->kind != EntryKind::File) {
    notes.push_back(keel_toml + " is not a regular file: seed_dir not set, the random seed does not persist");
    return out;
  }
  const std::string text = it->content ? *it->content : read_host_file(it->source);
  if (service::check_toml_text(text)) return out;
  try {
    const toml::table root = toml::parse(text, std::string_view(keel_toml));
    if (root.contains("seed_dir")) return out;  // the spec decides
  } catch (const toml::parse_error&) {
    return out;
  }
  it->content = line + text;
  notes.push_back("the random seed is kept on the data partition: seed_dir = \"" + dir + "\" added to " + keel_toml);
  return out;
}

}  // namespace

GptBytes make_gpt(const std::string& disk_guid, const std::vector<GptPartition>& parts, std::uint64_t total_sectors) {
  std::string entries(kEntries * kEntrySize, '\0');
  for (std::size_t i = 0; i < parts.size() && i < kEntries; ++i) {
    const GptPartition& p = parts[i];
    const std::size_t at = i * kEntrySize;
    put_guid(entries, at, p.type_guid);
    put_guid(entries, at + 16, p.unique_guid);
    put_le(entries, at + 32, p.first_lba, 8);
    put_le(entries, at + 40, p.first_lba + p.sectors - 1, 8);  // inclusive
    for (std::size_t c = 0; c < p.name.size() && c < 36; ++c) {
      put_le(entries, at + 56 + 2 * c, static_cast<unsigned char>(p.name[c]), 2);  // UTF-16LE, ASCII names
    }
  }
  const std::uint32_t entries_crc = crc32_of(entries, 0, entries.size());
  const std::uint64_t last = total_sectors - 1;
  const std::uint64_t last_usable = last - 1 - kEntrySectors;

  std::string mbr(kSector, '\0');
  // One partition of type 0xEE from LBA 1 to the end (at most 2^32 - 1 sectors).
  const std::size_t p = 446;
  mbr[p + 1] = 0x00;
  mbr[p + 2] = 0x02;  // CHS of LBA 1
  mbr[p + 3] = 0x00;
  mbr[p + 4] = static_cast<char>(0xee);
  mbr[p + 5] = mbr[p + 6] = mbr[p + 7] = static_cast<char>(0xff);
  put_le(mbr, p + 8, 1, 4);
  put_le(mbr, p + 12, std::min<std::uint64_t>(total_sectors - 1, 0xffffffffULL), 4);
  mbr[510] = 0x55;
  mbr[511] = static_cast<char>(0xaa);

  GptBytes out;
  out.head = mbr + header(disk_guid, 1, last, last_usable, 2, entries_crc) + entries;
  out.tail = entries + header(disk_guid, last, 1, last_usable, last - kEntrySectors, entries_crc);
  return out;
}

std::vector<std::string> stage_cmdline_words(const Spec& spec) {
  const DiskSpec disk = spec.disk.value_or(DiskSpec{});
  const OutputFormat fs_type = spec.output.format == OutputFormat::disk ? disk.root : spec.output.format;
  std::vector<std::string> words = {"root=LABEL=" + output_label(spec),
                                    std::string("rootfstype=") + (fs_type == OutputFormat::erofs ? "erofs" : "ext4")};
  if (spec.output.format == OutputFormat::disk && disk.data_size != 0) {
    words.push_back(std::string("keel.data=LABEL=") + kDataLabel + ":" + disk.data_mount);
  }
  if (!disk.tmpfs.empty()) {
    std::string w = "keel.tmpfs=";
    for (std::size_t i = 0; i < disk.tmpfs.size(); ++i) w += (i ? "," : "") + disk.tmpfs[i];
    words.push_back(w);
  }
  return words;
}

void write_disk_output(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime,
                       BuildResult& result) {
  result.compression = "none";
  const DiskSpec disk = spec.disk.value_or(DiskSpec{});
  const bool is_disk = spec.output.format == OutputFormat::disk;
  ImagePlan root_plan = with_mount_points(plan, disk, is_disk && disk.data_size != 0);
  if (is_disk && spec.keel && !default_seed_persists(disk, disk.root)) {
    if (disk.data_size != 0) {
      root_plan = with_seed_dir(root_plan, spec, disk, result.notes);
    } else {
      result.notes.emplace_back("the random seed does not persist on this root (read-only, or /var/lib on a tmpfs): "
                                "add [disk] data_size, or set seed_dir in keel.toml to persistent storage");
    }
  }
  const std::string label = output_label(spec);
  if (spec.output.format == OutputFormat::ext4) {
    result.format = "ext4";
    Ext4Options options;
    options.size = spec.output.size;
    options.label = label;
    write_ext4_fs(spec, root_plan, out, mtime, options, result);
    return;
  }
  if (spec.output.format == OutputFormat::erofs) {
    result.format = "erofs";
    write_erofs(spec, root_plan, out, mtime, label, result);
    return;
  }
  result.format = "disk";
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  ScratchDir scratch;
  const fs::path root_image = scratch.path() / "root.img";
  const fs::path data_image = scratch.path() / "data.img";
  if (disk.root == OutputFormat::erofs) {
    write_erofs(spec, root_plan, root_image, mtime, label, result);
  } else {
    Ext4Options options;
    options.size = disk.root_size;
    options.label = label;
    write_ext4_fs(spec, root_plan, root_image, mtime, options, result);
  }
  const std::string disk_key = plan_uuid(root_plan, mtime, disk.root == OutputFormat::erofs ? "disk-erofs" : "disk-ext4");
  if (disk.data_size != 0) {
    BuildResult ignored;
    Ext4Options options;
    options.size = disk.data_size;
    options.label = kDataLabel;
    options.uuid_salt = disk_key + "data";
    write_ext4_fs(spec, ImagePlan{}, data_image, mtime, options, ignored);
  }

  std::vector<GptPartition> parts;
  std::uint64_t next = kMiB / kSector;  // 2048: partitions start at 1 MiB boundaries
  auto add = [&](const std::string& name, const char* type, const fs::path& image) {
    const std::uint64_t bytes = round_up(fs::file_size(image), kMiB);
    parts.push_back(GptPartition{name, type, derived_uuid(disk_key + "/" + name), next, bytes / kSector});
    next += bytes / kSector;
  };
  add(kRootPartition, kRootType, root_image);
  if (disk.data_size != 0) add(kDataLabel, kLinuxDataType, data_image);
  // The unique GUIDs are derived from the root's content: a kernel command
  // line of its own can name them (root=PARTUUID=), for this build.
  for (std::size_t i = 0; i < parts.size(); ++i) {
    result.notes.push_back("partition " + std::to_string(i + 1) + " " + parts[i].name +
                           ": PARTUUID=" + parts[i].unique_guid);
  }
  // The backup entries and header need 33 sectors after the last partition: one more MiB.
  const std::uint64_t total = next + kMiB / kSector;
  const GptBytes gpt = make_gpt(derived_uuid(disk_key), parts, total);

  fs::path tmp = out;
  tmp += ".tmp";
  fs::remove(tmp, ec);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw ImageError(tmp.string(), 0, std::string("cannot create the disk image: ") + std::strerror(errno));
  try {
    if (::ftruncate(fd, static_cast<off_t>(total * kSector)) != 0 ||
        ::pwrite(fd, gpt.head.data(), gpt.head.size(), 0) != static_cast<ssize_t>(gpt.head.size()) ||
        ::pwrite(fd, gpt.tail.data(), gpt.tail.size(), static_cast<off_t>((total - 1 - kEntrySectors) * kSector)) !=
            static_cast<ssize_t>(gpt.tail.size())) {
      throw ImageError(tmp.string(), 0, std::string("cannot write the disk image: ") + std::strerror(errno));
    }
    copy_into(fd, root_image, parts[0].first_lba * kSector, tmp);
    if (parts.size() > 1) copy_into(fd, data_image, parts[1].first_lba * kSector, tmp);
    if (::close(fd) != 0) throw ImageError(tmp.string(), 0, std::string("cannot write: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    fs::remove(tmp, ec);
    throw;
  }
  move_into_place(tmp, out);
}

}  // namespace keel::image
