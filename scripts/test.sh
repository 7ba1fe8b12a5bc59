#!/usr/bin/env bash
# Run the whole test suite: the house rules (rustfmt, clippy and rustdoc with warnings
# denied), unit, physics, end-to-end CLI tests (release mode),
# the h5py compatibility check of a simulated file, and the MPI tests
# (build with --features mpi, runs under mpirun -n 2 and -n 4).
# Installs missing system packages with apt-get and h5py into .venv-test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages "${MRE_SIM_PACKAGES[@]}" "${MRE_SIM_MPI_PACKAGES[@]}" python3 python3-venv
ensure_rust
export CARGO_TERM_COLOR=never
echo "== house rules: cargo fmt --check, cargo clippy and cargo doc with warnings denied"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --workspace
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
echo "== ismrmrd-python reads the MRD file: same k-space, same images"
"$venv/bin/python" -c "import ismrmrd" 2>/dev/null || "$venv/bin/pip" install -q ismrmrd
"$venv/bin/python" tests/python/check_mrd.py "$tmp/quickstart.mrd.h5" "$tmp/quickstart.h5"
echo "== the same for a Pulseq file simulated with motion (configs/pulseq-gre-mre.toml)"
./target/release/mre-sim configs/pulseq-gre-mre.toml --output "$tmp/pulseq.h5" --set output.figures=false -q
"$venv/bin/python" tests/python/check_mrd.py "$tmp/pulseq.mrd.h5" "$tmp/pulseq.h5"
echo "== pypulseq reads the exported sequence (block table, check_timing)"
"$venv/bin/python" -c "import pypulseq" 2>/dev/null || "$venv/bin/pip" install -q pypulseq
MRE_PYPULSEQ_PYTHON="$PWD/$venv/bin/python" cargo test --release --locked --workspace --test pulseq_export --test pulseq
echo "== MPI: mpirun -n 2 and -n 4 against the serial result (build with --features mpi)"
# Open MPI refuses to run as root without these; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cargo test --release --locked --features mpi --test mpi
echo "== all tests passed"
