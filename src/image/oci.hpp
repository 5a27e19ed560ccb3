// oci.hpp — the OCI outputs of keel-image: an OCI image layout directory
// ([output] format = "oci") and a docker-archive tarball
// ([output] format = "docker-archive", what `docker save` writes and
// `docker load` / `podman load` read), from the same plan as every other
// format. Schema of [oci]: docs/image-spec.md, "OCI images".
//
// One image, one layer: the whole planned tree as a tar (tar.hpp), with the
// spec's owners and modes and every mtime the build time. The config says
// what to run (keel as the system role or the container init, or the
// spec's own entrypoint), the environment, working directory, user, ports,
// stop signal and labels, and carries the layer's uncompressed digest
// (rootfs.diff_ids) and one history entry for it.
//
//   oci:  OUT/oci-layout, OUT/index.json (the manifest, tagged with
//         `org.opencontainers.image.ref.name` = [oci] tag) and
//         OUT/blobs/sha256/<digest> for the gzip layer, the config and the
//         manifest. skopeo's oci:OUT:TAG, umoci's --image OUT:TAG.
//   docker-archive: one tar holding manifest.json (Config, RepoTags
//         ["NAME:TAG"], Layers), <config digest>.json and
//         <diff_id>/layer.tar (uncompressed, as `docker save` writes it).
//
// Reproducible: the layer is written in the plan's order (sorted, parents
// first) with fixed times, gzip carries no name and no time, the JSON is
// written in one fixed key order without whitespace, and "created" is the
// build time (SOURCE_DATE_EPOCH or 0). The same spec and inputs give the
// same layer, config and manifest digests, in both formats (the config,
// and so the image ID, is the same blob in both).
//
// Not in the layer: the default layout's device nodes (/dev/console,
// /dev/null, ...). A container runtime mounts its own /dev over the
// image's, so they could never be seen, and a rootless unpack cannot
// create them. Device nodes the spec lists itself are kept.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "image/builder.hpp"

namespace keel::image {

struct Spec;
class Progress;

// What [oci] adds to the plan: the compat_links, each a relative symlink
// to keel (so an image written for tini or dumb-init runs keel under that
// name). Empty without [oci].
[[nodiscard]] std::vector<ImageEntry> oci_plan_entries(const Spec& spec);

// Writes `plan` as the spec's OCI format to `out` (a directory for "oci",
// a file for "docker-archive"), through OUT.tmp renamed when complete.
// "oci": OUT must not exist, be an empty directory, or be an OCI layout
// (it has an oci-layout file), which is replaced whole. Fills result's
// entries, bytes (the layer tar), compressed (the layer blob, or the
// archive) and a note naming the image's config digest.
void write_oci(const Spec& spec, const ImagePlan& plan, const std::filesystem::path& out, std::uint32_t mtime,
               Progress& progress, BuildResult& result);

// The image config's JSON for a layer with uncompressed digest `diff_id`
// (64 hex digits), as write_oci writes it. For tests and the docs.
[[nodiscard]] std::string oci_config_json(const Spec& spec, const std::string& diff_id, std::uint32_t mtime);

}  // namespace keel::image
