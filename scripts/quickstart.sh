#!/usr/bin/env bash
# Build mre-sim in release mode and run configs/quickstart.toml.
# Installs missing system packages with apt-get (libhdf5-dev, pkg-config, gcc).
# Re-running regenerates out/quickstart.h5 and its figures (it passes --force).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages "${MRE_SIM_PACKAGES[@]}"
ensure_rust
cargo build --release --locked --quiet
./target/release/mre-sim configs/quickstart.toml --force
echo
echo "outputs are in $(pwd)/out/: quickstart.h5 (mre-data v1, open with h5py or MATLAB h5read), quickstart.mrd.h5 (MRD raw data, ismrmrd) and quickstart_*.png"
