# packages.sh — sourced by dev.sh and the scripts: install Debian packages
# that are missing, so a fresh Debian 12 machine needs nothing by hand.
#
# need_packages PKG... installs (apt-get, --no-install-recommends) the ones
# not installed yet; as a non-root user through sudo. Messages name the
# calling script ($0).

need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$(basename "$0"): installing ${missing[*]} (apt-get)" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "$(basename "$0"): need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # An index older than a day may predate security updates (a fresh
  # debootstrap has only the base suite's): refresh it first.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    "${sudo[@]}" apt-get update -q >/dev/null
  fi
  # A failing install may still be a stale index: refresh once and retry.
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
