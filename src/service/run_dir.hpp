// run_dir.hpp — the run directory (KEEL_RUN_DIR, /run/keel) made or checked.
//
// keel binds its sockets there as root: the notify sockets (run/notify/NAME)
// and, by default, the control socket, and it unlinks, chowns and chmods
// those paths. In a directory another user can write to, that user could
// swap a socket path for a link between keel's bind and its chmod, or
// unlink keel's sockets and bind their own in their place (a fake control
// socket, forged readiness). So a directory that already exists must be a
// directory (not a link), owned by keel's effective uid, and writable by
// nobody else; one that does not exist is created 0755. A refusal is a
// message: keel keeps running without the sockets that would live there.
#pragma once

#include <string>

namespace keel::service {

// mkdir(dir, 0755) when missing, then the checks above. "" when `dir` is
// fit for keel's sockets, else the sentence to log ("run directory
// /run/keel is owned by uid 1000: refusing to put sockets there; ...").
[[nodiscard]] std::string prepare_run_dir(const std::string& dir);

}  // namespace keel::service
