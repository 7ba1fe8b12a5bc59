#!/usr/bin/env python3
"""Check a Pulseq file written by `mre-sim seq export` with pypulseq.

    /work/venv-pq/bin/python scripts/pulseq/check_export.py FILE.seq

Reads the file with pypulseq, with the system's dead times taken from the
file's `RfDeadTime`, `RfRingdownTime` and `AdcDeadTime` definitions (s; 0 when
absent, pypulseq's defaults), runs `check_timing()` and prints the block
table (as scripts/pulseq/read_block_table.py: `id duration rf gx gy gz adc
ext`, the duration in block rasters). Lines starting with `#` give the pypulseq
version, the total duration (s), the ADC sample count and the outcome of
`check_timing`. Exits 1 when the timing check fails (the errors are printed
to stderr). Used by io/tests/pulseq_export.rs with MRE_PYPULSEQ_PYTHON set.
"""

import sys
import warnings

import pypulseq as pp


def read_definitions(path):
    """The [DEFINITIONS] section as text values (before pypulseq reads the file)."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith('['):
                section = line
                continue
            if section == '[DEFINITIONS]' and line and not line.startswith('#'):
                key, _, value = line.partition(' ')
                out[key] = value.strip()
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    defs = read_definitions(argv[1])

    def seconds(key):
        return float(defs.get(key, 0.0))

    system = pp.Opts(
        rf_dead_time=seconds('RfDeadTime'),
        rf_ringdown_time=seconds('RfRingdownTime'),
        adc_dead_time=seconds('AdcDeadTime'),
        grad_raster_time=float(defs.get('GradientRasterTime', 10e-6)),
        rf_raster_time=float(defs.get('RadiofrequencyRasterTime', 1e-6)),
        adc_raster_time=float(defs.get('AdcRasterTime', 100e-9)),
        block_duration_raster=float(defs.get('BlockDurationRaster', 10e-6)),
    )
    seq = pp.Sequence(system=system)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        seq.read(argv[1], remove_duplicates=False)
        t_adc, _ = seq.adc_times()
        ok, errors = seq.check_timing()
    print(f'# pypulseq {pp.__version__}')
    print(f'# total_duration {sum(seq.block_durations.values()):.12g}')
    print(f'# n_adc {len(t_adc)}')
    print('# check_timing passed' if ok else f'# check_timing failed: {len(errors)} error(s)')
    for block_id, events in seq.block_events.items():
        duration = round(seq.block_durations[block_id] / seq.block_duration_raster)
        print(block_id, duration, *(int(e) for e in events[1:]))
    if not ok:
        for e in errors[:50]:
            print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
