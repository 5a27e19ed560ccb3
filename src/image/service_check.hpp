// service_check.hpp — an image's service files, checked at build time.
//
// keel loads /etc/keel/services/NAME.toml at boot with service/config's
// parser, and a bad file there is only found on the booted machine. So
// keel-image runs that very parser on every such file of the plan while
// building, against the /etc/passwd and /etc/group the image will hold (the
// ones the plan writes, from [[user]]/[[group]] or a [[file]]), so a file
// that passes here loads the same way at boot. A problem ends the build
// with the spec line of the entry that put the file there and the service
// file's own line.
#pragma once

#include <filesystem>
#include <string>

namespace keel::image {

struct ImagePlan;

// Throws ImageError(spec_file, line of the entry, "service file PATH: line
// N: KEY: MESSAGE", with every problem of the first bad file in path order).
void check_service_files(const ImagePlan& plan, const std::filesystem::path& spec_file,
                         const std::string& services_dir = "/etc/keel/services");

}  // namespace keel::image
