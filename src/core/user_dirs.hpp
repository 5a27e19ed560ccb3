// user_dirs.hpp — where keel's files are when it runs for a user.
//
// keel's system role run by a uid other than 0 that is not the machine's
// init is a user instance (docs/system-mode.md, "A user instance"): a
// supervisor for one user, like `systemd --user`, or a container's init
// under `USER 1000`. It cannot use /etc/keel and /run/keel as root's
// keel does, so its defaults follow the XDG base directories, and keelctl
// run by that user finds the socket the same way. The KEEL_* variables
// still win (system_init.cpp, keelctl.cpp).
//
// Read once at start from the environment (an edge: these allocate).
#pragma once

#include <string>

namespace keel {

// CONFIG_DIR: $XDG_CONFIG_HOME/keel, else $HOME/.config/keel, else (no
// home: HOME unset, empty or "/", as for `USER 1000` in a container with no
// passwd entry) /etc/keel. Relative XDG values are ignored, as the XDG
// specification says.
[[nodiscard]] std::string user_config_dir();

// RUN_DIR: $XDG_RUNTIME_DIR/keel, else /run/keel. The fallback is what a
// container's init wants (`--tmpfs /run` is world-writable, or
// `--tmpfs /run:uid=1000`); on a host /run/keel is root's, and keel says so
// naming XDG_RUNTIME_DIR (service/run_dir.cpp) instead of guessing a
// directory another user could have made.
[[nodiscard]] std::string user_run_dir();

// keelctl's socket when neither --socket nor $KEEL_CONTROL_SOCKET says:
// root's /run/keel/control.sock for uid 0, user_run_dir()/control.sock
// for anyone else.
[[nodiscard]] std::string default_control_socket();

}  // namespace keel
