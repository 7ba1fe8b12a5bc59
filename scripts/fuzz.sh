#!/usr/bin/env bash
# Longer fuzzing of every reader of untrusted input, started by hand (CI runs the same
# property tests with a few dozen cases each as part of scripts/test.sh).
#
#   scripts/fuzz.sh              # 5000 cases per property
#   CASES=50000 scripts/fuzz.sh  # more
#   scripts/fuzz.sh pulseq       # only the targets whose name contains "pulseq"
#
# Targets (proptest; each property: never a panic, never an allocation beyond the memory
# budget, either a value or an error naming the file, key or option):
#   config   io/tests/fuzz_config.rs     mutated shipped configs and random --set assignments
#   pulseq   io/tests/fuzz_pulseq.rs     random and mutated .seq files through parse, timeline, plan
#   nifti    io/src/nifti.rs (tests)     random and mutated NIfTI-1 headers, truncation, gzip
#   mre-data io/tests/fuzz_mre_data.rs   random datasets, shapes and truncation of mre-data files
#   import   pipeline/tests/fuzz_import.rs  random MAT arrays and masks, mutated NIfTI files
# A failing case is printed with its minimal input; proptest stores the seed in a
# *.proptest-regressions file beside the test (commit it with the fix).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages "${MRE_SIM_PACKAGES[@]}"
ensure_rust
export PROPTEST_CASES="${CASES:-5000}"
filter="${1:-}"
targets=(
  "config|-p mre-io --test fuzz_config"
  "pulseq|-p mre-io --test fuzz_pulseq"
  "nifti|-p mre-io --lib nifti::tests::"
  "mre-data|-p mre-io --test fuzz_mre_data"
  "import|-p mre-pipeline --test fuzz_import"
)
ran=0
for t in "${targets[@]}"; do
  name="${t%%|*}"
  args="${t#*|}"
  if [[ -n "$filter" && "$name" != *"$filter"* ]]; then
    continue
  fi
  echo "== fuzz $name: $PROPTEST_CASES cases per property"
  # shellcheck disable=SC2086
  cargo test --release --locked $args -- --test-threads 2
  ran=$((ran + 1))
done
if [[ $ran -eq 0 ]]; then
  echo "no fuzz target matches '$filter'" >&2
  exit 2
fi
echo "== fuzzing found nothing in $ran target(s)"
