// plan_archive.hpp — a plan's entries in the order an archive takes them:
// what the cpio writer (builder.cpp) and the OCI layer's tar (oci.cpp)
// share, so that both put the same entries in the same order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "image/builder.hpp"
#include "image/cpio.hpp"

namespace keel::image {

// The bytes a File entry stores (0 for other kinds; a host file that cannot
// be read counts 0 here and fails when it is copied).
inline std::uint64_t data_size(const ImageEntry& e) {
  if (e.kind != EntryKind::File) return 0;
  if (e.content) return e.content->size();
  std::error_code ec;
  const auto size = std::filesystem::file_size(e.source, ec);
  return ec ? 0 : size;
}

// Calls `use` with a File entry's data as the writers take it: its bytes
// (std::string_view) or the host file to copy (HostFile).
template <class Use>
void with_data(const ImageEntry& file, Use&& use) {
  if (file.content) {
    use(std::string_view(*file.content));
  } else {
    use(HostFile{file.source});
  }
}

// Visits the plan in its order (parents first). A hard-linked file is
// visited once, as group(file, names) with all its names sorted (the
// file's own path among them), where the last of those names sorts: by
// then every parent of every name has been visited. Every entry not in a
// group: entry(e).
template <class Entry, class Group>
void for_each_entry(const ImagePlan& plan, Entry&& entry, Group&& group) {
  std::map<std::string, std::vector<std::string>> groups;  // file -> all its names, sorted
  std::map<std::string, const ImageEntry*> by_path;
  for (const ImageEntry& e : plan.entries) {
    by_path[e.path] = &e;
    if (e.kind == EntryKind::Hardlink) groups[e.target].push_back(e.path);
  }
  for (auto& [target, names] : groups) {
    names.push_back(target);
    std::sort(names.begin(), names.end());
  }
  for (const ImageEntry& e : plan.entries) {
    const std::string& group_key = e.kind == EntryKind::Hardlink ? e.target : e.path;
    if (auto g = groups.find(group_key); g != groups.end()) {
      if (e.path == g->second.back()) group(*by_path.at(g->first), g->second);
      continue;
    }
    entry(e);
  }
}

// One entry that is not in a hard-link group, to a CpioWriter or a
// TarWriter (the same add_* calls).
template <class Writer>
void add_entry(Writer& writer, const ImageEntry& e, const Metadata& meta) {
  switch (e.kind) {
    case EntryKind::File: with_data(e, [&](const auto& data) { writer.add_file(e.path, meta, data); }); break;
    case EntryKind::Directory: writer.add_directory(e.path, meta); break;
    case EntryKind::Symlink: writer.add_symlink(e.path, meta, e.target); break;
    case EntryKind::CharDevice: writer.add_char_device(e.path, meta, e.major, e.minor); break;
    case EntryKind::BlockDevice: writer.add_block_device(e.path, meta, e.major, e.minor); break;
    case EntryKind::Fifo: writer.add_fifo(e.path, meta); break;
    case EntryKind::Hardlink: break;  // for_each_entry visits it with its group
  }
}

}  // namespace keel::image
