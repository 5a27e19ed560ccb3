// oci.cpp — OCI image layout and docker-archive outputs; see oci.hpp.
#include "image/oci.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <system_error>

#include "core/json_text.hpp"
#include "image/compress.hpp"
#include "image/diagnostic.hpp"
#include "image/digest.hpp"
#include "image/plan_archive.hpp"
#include "image/progress.hpp"
#include "image/spec.hpp"
#include "image/tar.hpp"

namespace keel::image {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kConfigType = "application/vnd.oci.image.config.v1+json";
constexpr const char* kLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";

// The platform keel-image copies host programs from: its own.
constexpr const char* architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__i386__)
  return "386";
#else
#error "unknown architecture for the OCI config"
#endif
}

// A JSON string, quoted.
std::string js(std::string_view text) {
  std::string out(text.size() * 6 + 2, '\0');
  const std::size_t n = json_escape(text, out.data() + 1, out.size() - 2);
  if (n == SIZE_MAX) throw ImageError("oci: cannot escape a JSON string");
  out[0] = '"';
  out[n + 1] = '"';
  out.resize(n + 2);
  return out;
}

std::string js_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + js(items[i]);
  return out + "]";
}

std::string js_object(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + js(items[i].first) + ":" + js(items[i].second);
  return out + "}";
}

// RFC 3339 in UTC, as OCI's "created" wants it.
std::string rfc3339(std::uint32_t seconds) {
  const std::time_t t = seconds;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string descriptor(const char* media_type, const std::string& hex, std::uint64_t size) {
  return std::string("{\"mediaType\":") + js(media_type) + ",\"digest\":" + js("sha256:" + hex) +
         ",\"size\":" + std::to_string(size);
}

// The default layout's nodes (/dev/console, ...): the runtime's own /dev
// hides them (oci.hpp).
bool layout_device(const ImageEntry& e) {
  return (e.kind == EntryKind::CharDevice || e.kind == EntryKind::BlockDevice) && e.line == 0 && e.origin.empty() &&
         e.path.starts_with("/dev/");
}

// The plan as one tar, in for_each_entry's order. A hard-linked file goes
// out under the first of its names, followed by the others as links to it
// (a link always follows its target).
void write_layer(const ImagePlan& plan, std::uint32_t mtime, Sink& sink, Progress& progress, BuildResult& result) {
  TarWriter tar(sink);
  for_each_entry(
      plan,
      [&](const ImageEntry& e) {
        if (layout_device(e)) return;
        add_entry(tar, e, Metadata{e.mode, e.uid, e.gid, mtime});
        ++result.entries;
        progress.add(data_size(e), e.kind == EntryKind::File);
      },
      [&](const ImageEntry& file, const std::vector<std::string>& names) {
        const Metadata meta{file.mode, file.uid, file.gid, mtime};
        with_data(file, [&](const auto& data) { tar.add_file(names.front(), meta, data); });
        for (std::size_t i = 1; i < names.size(); ++i) tar.add_hard_link(names[i], meta, names.front());
        result.entries += names.size();
        progress.add(data_size(file), true);
      });
  tar.finish();
}

void write_text(const fs::path& file, std::string_view text) {
  FileSink sink(file);
  sink.write(text);
  sink.finish();
}

// The name the history entry gives the build: the spec's file name only,
// so the digest does not depend on the directory it was built in.
std::string created_by(const Spec& spec) { return "keel-image build " + spec.file.filename().string(); }

// OUT may be replaced when it is nothing yet, an empty directory, or an
// OCI layout (an earlier build's).
void check_layout_target(const fs::path& out) {
  std::error_code ec;
  const auto st = fs::symlink_status(out, ec);
  if (ec || !fs::exists(st)) return;
  if (!fs::is_directory(st)) throw ImageError(out.string(), 0, "the output exists and is not a directory");
  if (fs::is_empty(out, ec) || fs::exists(out / "oci-layout", ec)) return;
  throw ImageError(out.string(), 0,
                   "the output directory is neither empty nor an OCI image layout; remove it or give another -o");
}

// Moves the finished tmp into place, replacing an earlier layout whole.
void replace_dir(const fs::path& tmp, const fs::path& out) {
  std::error_code ec;
  fs::path old = out;
  old += ".old";
  fs::remove_all(old, ec);
  const bool had = fs::exists(fs::symlink_status(out, ec));
  if (had) {
    fs::rename(out, old, ec);
    if (ec) throw ImageError(out.string(), 0, "cannot move the old image aside: " + ec.message());
  }
  fs::rename(tmp, out, ec);
  if (ec) {
    if (had) fs::rename(old, out, ec);
    throw ImageError(out.string(), 0, "cannot write the image: " + ec.message());
  }
  if (had) fs::remove_all(old, ec);
}

void write_layout(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime, Progress& progress,
                  BuildResult& result) {
  check_layout_target(out);
  fs::path tmp = out;
  tmp += ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  const fs::path blobs = tmp / "blobs" / "sha256";
  fs::create_directories(blobs, ec);
  if (ec) throw ImageError(tmp.string(), 0, "cannot create the output directory: " + ec.message());
  try {
    // file <- digest <- gzip <- diff_id <- tar, in one pass.
    const fs::path layer_tmp = blobs / "layer.tmp";
    FileSink file(layer_tmp);
    HashingSink digest(&file);
    const std::unique_ptr<Sink> gzip = make_compressor(Compression::Gzip, digest);
    HashingSink diff_id(gzip.get());
    write_layer(plan, mtime, diff_id, progress, result);
    const std::string layer_hex = digest.hex();
    const std::string diff_hex = diff_id.hex();
    result.bytes = diff_id.size();
    result.compressed = digest.size();
    fs::rename(layer_tmp, blobs / layer_hex, ec);
    if (ec) throw ImageError(layer_tmp.string(), 0, "cannot rename the layer: " + ec.message());

    const std::string config = oci_config_json(spec, diff_hex, mtime);
    const std::string config_hex = sha256_hex(config);
    write_text(blobs / config_hex, config);
    const std::string manifest = std::string("{\"schemaVersion\":2,\"mediaType\":") + js(kManifestType) +
                                 ",\"config\":" + descriptor(kConfigType, config_hex, config.size()) +
                                 "},\"layers\":[" + descriptor(kLayerType, layer_hex, digest.size()) + "}]}";
    const std::string manifest_hex = sha256_hex(manifest);
    write_text(blobs / manifest_hex, manifest);
    const std::string index = std::string("{\"schemaVersion\":2,\"mediaType\":") + js(kIndexType) + ",\"manifests\":[" +
                              descriptor(kManifestType, manifest_hex, manifest.size()) +
                              ",\"annotations\":{\"org.opencontainers.image.ref.name\":" + js(spec.oci->tag) + "}}]}";
    write_text(tmp / "index.json", index);
    write_text(tmp / "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    result.notes.push_back("oci: image sha256:" + config_hex + ", manifest sha256:" + manifest_hex + ", tag " +
                           spec.oci->tag + " (skopeo inspect oci:" + out.string() + ":" + spec.oci->tag + ")");
    replace_dir(tmp, out);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

void write_docker_archive(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime,
                          Progress& progress, BuildResult& result) {
  std::error_code ec;
  if (out.has_parent_path()) fs::create_directories(out.parent_path(), ec);
  fs::path layer_tmp = out;
  layer_tmp += ".layer.tmp";
  fs::path tmp = out;
  tmp += ".tmp";
  try {
    // The layer first, into a scratch file: the archive's header for it
    // needs its size, and its directory its digest.
    std::string diff_hex;
    {
      FileSink file(layer_tmp);
      HashingSink diff_id(&file);
      write_layer(plan, mtime, diff_id, progress, result);
      diff_hex = diff_id.hex();
      result.bytes = diff_id.size();
    }
    const std::string config = oci_config_json(spec, diff_hex, mtime);
    const std::string config_hex = sha256_hex(config);
    const std::string manifest = "[{\"Config\":" + js(config_hex + ".json") + ",\"RepoTags\":[" +
                                 js(spec.oci->name + ":" + spec.oci->tag) + "],\"Layers\":[" +
                                 js(diff_hex + "/layer.tar") + "]}]\n";
    FileSink file(tmp);
    CountingSink counted(file);
    TarWriter tar(counted);
    // Sorted by name: the layer's directory and file (hex digits sort
    // before "m"), the config, manifest.json.
    std::map<std::string, int> order{{diff_hex + "/", 0}, {config_hex + ".json", 1}, {"manifest.json", 2}};
    for (const auto& [name, which] : order) {
      switch (which) {
        case 0:
          tar.add_directory(name, Metadata{0755, 0, 0, mtime});
          tar.add_file(name + "layer.tar", Metadata{0644, 0, 0, mtime}, HostFile{layer_tmp});
          break;
        case 1: tar.add_file(name, Metadata{0644, 0, 0, mtime}, config); break;
        default: tar.add_file(name, Metadata{0644, 0, 0, mtime}, manifest); break;
      }
    }
    tar.finish();
    result.compressed = counted.count();
    fs::remove(layer_tmp, ec);
    result.notes.push_back("docker-archive: image sha256:" + config_hex + ", " + spec.oci->name + ":" + spec.oci->tag +
                           " (docker load -i " + out.string() + ")");
  } catch (...) {
    fs::remove(layer_tmp, ec);
    fs::remove(tmp, ec);
    throw;
  }
  move_into_place(tmp, out);
}

}  // namespace

std::vector<ImageEntry> oci_plan_entries(const Spec& spec) {
  std::vector<ImageEntry> out;
  if (!spec.oci || !spec.keel) return out;
  for (const std::string& link : spec.oci->compat_links) {
    if (link == spec.keel->path) continue;
    ImageEntry e;
    e.path = link;
    e.kind = EntryKind::Symlink;
    e.mode = 0777;
    e.target = relative_link(link, spec.keel->path);
    e.line = spec.oci->line;
    e.origin = "[oci] compat_links";
    out.push_back(std::move(e));
  }
  return out;
}

std::string oci_config_json(const Spec& spec, const std::string& diff_id, std::uint32_t mtime) {
  const OciSpec& o = *spec.oci;
  const std::string created = rfc3339(mtime);
  // Keys in a fixed (sorted) order, empty ones left out.
  std::string c = "{";
  auto key = [&](const char* name, const std::string& value) {
    if (c.size() > 1) c += ",";
    c += js(name) + ":" + value;
  };
  if (!o.cmd.empty()) key("Cmd", js_list(o.cmd));
  if (!o.entrypoint.empty()) key("Entrypoint", js_list(o.entrypoint));
  std::vector<std::string> env;
  for (const auto& [name, value] : o.env) {
    std::string item = name;
    item += '=';
    item += value;
    env.push_back(std::move(item));
  }
  key("Env", js_list(env));
  if (!o.ports.empty()) {
    std::string ports = "{";
    for (std::size_t i = 0; i < o.ports.size(); ++i) ports += (i ? "," : "") + js(o.ports[i]) + ":{}";
    key("ExposedPorts", ports + "}");
  }
  if (!o.labels.empty()) key("Labels", js_object(o.labels));
  if (!o.stop_signal.empty()) key("StopSignal", js(o.stop_signal));
  if (!o.user.empty()) key("User", js(o.user));
  if (!o.workdir.empty()) key("WorkingDir", js(o.workdir));
  c += "}";
  return std::string("{\"architecture\":") + js(architecture()) + ",\"config\":" + c + ",\"created\":" + js(created) +
         ",\"history\":[{\"created\":" + js(created) + ",\"created_by\":" + js(created_by(spec)) +
         "}],\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + js("sha256:" + diff_id) + "]}}";
}

void write_oci(const Spec& spec, const ImagePlan& plan, const fs::path& out, std::uint32_t mtime, Progress& progress,
               BuildResult& result) {
  if (!spec.oci) throw ImageError(spec.file.string(), spec.output.line, "oci: the spec has no [oci] settings");
  if (spec.output.format == OutputFormat::docker_archive) {
    result.format = "docker-archive";
    result.compression = "none";
    write_docker_archive(spec, plan, out, mtime, progress, result);
  } else {
    result.format = "oci";
    result.compression = "gzip";
    result.level = default_level(Compression::Gzip);
    write_layout(spec, plan, out, mtime, progress, result);
  }
}

}  // namespace keel::image
