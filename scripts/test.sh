#!/usr/bin/env bash
# Run the whole test suite: unit, physics, end-to-end CLI tests (release mode),
# and the h5py compatibility check of a simulated file.
# Installs missing system packages with apt-get and h5py into .venv-test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages "${MRE_SIM_PACKAGES[@]}" python3 python3-venv
ensure_rust
export CARGO_TERM_COLOR=never
echo "== cargo test (release)"
cargo test --release --locked --workspace
echo "== h5py reads the simulated file"
venv=.venv-test
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import h5py, numpy" 2>/dev/null || "$venv/bin/pip" install -q h5py numpy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./target/release/mre-sim configs/quickstart.toml --output "$tmp/quickstart.h5" -q
"$venv/bin/python" tests/python/check_h5py.py "$tmp/quickstart.h5"
echo "== all tests passed"
