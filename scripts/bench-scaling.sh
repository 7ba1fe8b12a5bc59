#!/usr/bin/env bash
# MPI scaling of the Bloch simulation on this machine (see docs/hpc.md).
#   scripts/bench-scaling.sh [CONFIG] [REPEATS]
# Strong scaling: the same problem on 1 and 2 ranks (one rayon thread per rank),
# median wall time of REPEATS runs, efficiency T1 / (2 T2); also 1 rank × 2 threads.
# Overheads: rank 0's reduction time and the whole-run overhead (wall − kernel) per
# rank count, from the run summary. Builds mre-sim with --features mpi first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages "${MRE_SIM_PACKAGES[@]}" "${MRE_SIM_MPI_PACKAGES[@]}"
ensure_rust
config=${1:-configs/quickstart.toml}
repeats=${2:-3}
# 16 isochromats per voxel: 161 552 isochromats = 20 kernel batches of 8192 (balanced on 1, 2, 4, 5, 10 ranks).
opts=(--set phantom.spins_per_voxel=16 --set output.figures=false --force -q)
cargo build --release --features mpi -q
bin=target/release/mre-sim
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run RANKS THREADS: prints "wall kernel reduce" of one run
run() {
  local out
  out=$(mpirun --oversubscribe --bind-to none -x RAYON_NUM_THREADS="$2" -n "$1" "$bin" "$config" "${opts[@]}" --output "$tmp/o.h5")
  local wall kernel reduce
  wall=$(sed -n 's/.*: \([0-9.]*\) s wall on.*/\1/p' <<<"$out")
  kernel=$(sed -n 's/.*kernel \([0-9.]*\) s.*/\1/p' <<<"$out")
  reduce=$(sed -n 's/.*reduction \([0-9.]*\) s.*/\1/p' <<<"$out")
  echo "$wall $kernel $reduce"
}

# median of column $1 over lines on stdin
median() { awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A W K R
for setup in "1 1" "2 1" "1 2"; do
  read -r ranks threads <<<"$setup"
  runs=$(for _ in $(seq "$repeats"); do run "$ranks" "$threads"; done)
  W[$setup]=$(median 1 <<<"$runs")
  K[$setup]=$(median 2 <<<"$runs")
  R[$setup]=$(median 3 <<<"$runs")
  printf '%s rank(s) x %s thread(s): wall %s s (median of %s), rank-0 kernel %s s, reduction %s s\n' \
    "$ranks" "$threads" "${W[$setup]}" "$repeats" "${K[$setup]}" "${R[$setup]}"
done
awk -v t1="${W[1 1]}" -v t2="${W[2 1]}" -v tt="${W[1 2]}" 'BEGIN {
  printf "strong scaling 1 -> 2 ranks: speed-up %.2f, efficiency %.2f (1 rank x 2 threads: efficiency %.2f)\n", t1 / t2, t1 / (2 * t2), t1 / (2 * tt)
}'
