# SPDX-License-Identifier: MIT
# common.sh: sourced by every lab script. Paths, logging and small helpers.
# CONVME_LAB_WORK overrides the work dir (default tests/lab/work, gitignored); everything that is
# downloaded or built lands there, so a second run does no network access and little work.
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$LAB_DIR/../.." && pwd)
WORK=${CONVME_LAB_WORK:-$LAB_DIR/work}
DEBS=$WORK/debs

log() { echo "[lab $(date +%H:%M:%S)] $*" >&2; }
die() { echo "[lab] ERROR: $*" >&2; exit 1; }

# Debian architecture name for a lab architecture.
deb_arch() {
  case "$1" in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    *) die "unknown architecture '$1' (expected x86_64 or aarch64)" ;;
  esac
}

have_pkg() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# apt-get update once per lab-build run, only when something needs the package lists.
APT_UPDATED=${APT_UPDATED:-0}
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq || die "apt-get update failed (no access to the Debian mirror?)"
    APT_UPDATED=1
  fi
}

# Download one package (name[:arch][=version]) into $DEBS unless a matching .deb is there.
# $2 = glob of the expected file name.
fetch_deb() {
  local spec=$1 glob=$2
  mkdir -p "$DEBS"
  if compgen -G "$DEBS/$glob" >/dev/null; then return 0; fi
  log "apt-get download $spec"
  (cd "$DEBS" && apt-get download -q "$spec" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
  compgen -G "$DEBS/$glob" >/dev/null || die "could not download $spec (no $DEBS/$glob); is the Debian mirror reachable?"
}

# The one file matching a glob (dies if none).
one_file() { local f; f=$(compgen -G "$1" | sort | tail -1) || true; [ -n "$f" ] || die "missing $1"; echo "$f"; }
