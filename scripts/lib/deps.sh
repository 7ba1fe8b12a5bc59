# Shared by scripts/quickstart.sh and scripts/test.sh: install what is missing, quietly.
# shellcheck shell=bash

# ensure_packages PKG...: apt-get install the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing system packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_rust: cargo must be on PATH (rustup's default install location is tried too).
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install Rust (https://rustup.rs), version $(grep -m1 rust-version Cargo.toml | cut -d'"' -f2) or newer." >&2
    exit 1
  fi
}

# The system packages mre-sim needs to build (HDF5 for the data files).
MRE_SIM_PACKAGES=(libhdf5-dev pkg-config gcc)

# Extra system packages for the MPI build (`--features mpi`): Open MPI and libclang (bindgen).
MRE_SIM_MPI_PACKAGES=(libopenmpi-dev openmpi-bin libclang-dev)
