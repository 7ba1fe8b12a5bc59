#!/usr/bin/env python3
"""Print the block table of a Pulseq file as pypulseq reads it.

    /work/venv-pq/bin/python scripts/pulseq/read_block_table.py FILE.seq

One line per block: `id duration rf gx gy gz adc ext`, the duration in block
rasters, event ids as in the file (read without duplicate removal). Lines
starting with `#` give the format version, the total duration (s) and the ADC
sample count. Used to check that files written by mre-sim read identically in
pypulseq (io/tests/pulseq.rs, with MRE_PYPULSEQ_PYTHON set).
"""

import sys
import warnings

import pypulseq as pp


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    seq = pp.Sequence()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        seq.read(argv[1], remove_duplicates=False)
        t_adc, _ = seq.adc_times()
    print(f'# pypulseq {pp.__version__}')
    print(f'# total_duration {sum(seq.block_durations.values()):.12g}')
    print(f'# n_adc {len(t_adc)}')
    for block_id, events in seq.block_events.items():
        duration = round(seq.block_durations[block_id] / seq.block_duration_raster)
        print(block_id, duration, *(int(e) for e in events[1:]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
