# scripts/lib.sh - shared by scripts/run, scripts/test and scripts/bench.
# Sourced, not run.

# need_packages PKG...: apt-get install whichever of PKG are missing, with
# one apt-get update first.  Prints nothing when all are there.
need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
}

# The packages every build needs.
BUILD_PACKAGES=(cmake make gcc pkg-config libc6-dev libssl-dev)

# build DIR [cmake args...]: configure (once) and build.
build() {
    local dir=$1
    shift
    cmake -S "$EDDY_ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

EDDY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
