#!/usr/bin/env python3
"""A 2-D gradient-echo MRE sequence written with pypulseq, for `mre-sim`.

    python3 -m venv .venv-pulseq && .venv-pulseq/bin/pip install pypulseq
    .venv-pulseq/bin/python scripts/pulseq/make_mre_gre.py configs/pulseq/gre_mre.seq [--matrix 64] [--frequency 60]

Per TR: a non-selective 15° block pulse; a bipolar trapezoid motion-encoding
gradient (MEG) on z, one lobe per half period of the vibration frequency, with a
TRIGGER (output `ext1`) at its start that starts the actuator; read/phase
prephasers; a readout with k = 0 at sample nx/2; a spoiler on x and RF spoiling
(117° quadratic phase). Shots: MEG polarity (label SET: 0 = +, 1 = −) × 4
mechanical phase offsets (label PHS = k: the actuator is triggered with phase
offset 2πk/4) × the phase-encoding lines (label LIN). `mre-sim` reads these
labels (`[sequence] pulseq = "gre_mre.seq"`, defaults `offset_label = "PHS"`,
`polarity_label = "SET"`).
"""

import argparse
import math

import numpy as np
import pypulseq as pp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('output')
    ap.add_argument('--matrix', type=int, default=64, help='nx = ny')
    ap.add_argument('--fov', type=float, default=0.192, help='field of view, m')
    ap.add_argument('--slice', type=float, default=0.005, help='slab thickness written as FOV z, m')
    ap.add_argument('--frequency', type=float, default=60.0, help='MEG (vibration) frequency, Hz')
    ap.add_argument('--meg-amplitude', type=float, default=30.0, help='MEG amplitude, mT/m')
    ap.add_argument('--offsets', type=int, default=4)
    ap.add_argument('--dummies', type=int, default=40)
    ap.add_argument('--tr', type=float, default=0.03, help='TR, s')
    args = ap.parse_args()

    system = pp.Opts(max_grad=40, grad_unit='mT/m', max_slew=150, slew_unit='T/m/s',
                     rf_ringdown_time=20e-6, rf_dead_time=100e-6, adc_dead_time=10e-6)
    seq = pp.Sequence(system)
    n = args.matrix
    dk = 1.0 / args.fov
    dwell = 10e-6
    raster = system.grad_raster_time

    rf = pp.make_block_pulse(flip_angle=math.radians(15), duration=100e-6, system=system, use='excitation')
    amp = args.meg_amplitude * 1e-3 * system.gamma  # Hz/m
    lobe = round(0.5 / args.frequency / raster) * raster
    rise = math.ceil(amp / system.max_slew / raster) * raster
    megs = {sign: [pp.make_trapezoid(channel='z', amplitude=s * amp, flat_time=lobe - 2 * rise, rise_time=rise, system=system)
                   for s in (sign, -sign)] for sign in (1, -1)}
    trigger = pp.make_digital_output_pulse('ext1', duration=100e-6, system=system)

    gx = pp.make_trapezoid(channel='x', flat_area=n * dk, flat_time=n * dwell, system=system)
    adc = pp.make_adc(num_samples=n, dwell=dwell, delay=gx.rise_time, system=system)
    # k = 0 at sample n/2: the prephaser cancels the ramp and n/2 + 1/2 samples
    pre_area = -(gx.area - gx.flat_area) / 2 - (n / 2 + 0.5) * dk
    pre_time = 1.0e-3
    gx_pre = pp.make_trapezoid(channel='x', area=pre_area, duration=pre_time, system=system)
    spoiler = pp.make_trapezoid(channel='x', area=4 * n * dk, system=system)

    rf_phase = 0.0
    rf_inc = 0.0
    shots = [(p, k) for p in (0, 1) for k in range(args.offsets)]
    trs = [None] * args.dummies + [(p, k, line) for (p, k) in shots for line in range(n)]
    for tr in trs:
        p, k, line = tr if tr is not None else (0, 0, n // 2)
        rf.phase_offset = math.radians(rf_phase)
        adc.phase_offset = math.radians(rf_phase)
        rf_inc = (rf_inc + 117.0) % 360.0
        rf_phase = (rf_phase + rf_inc) % 360.0
        labels = [pp.make_label(type='SET', label='LIN', value=line),
                  pp.make_label(type='SET', label='PHS', value=k),
                  pp.make_label(type='SET', label='SET', value=p)]
        seq.add_block(rf, *labels)
        lobe1, lobe2 = megs[1 if p == 0 else -1]
        seq.add_block(lobe1, trigger)
        seq.add_block(lobe2)
        gy_pre = pp.make_trapezoid(channel='y', area=(line - n / 2) * dk, duration=pre_time, system=system)
        seq.add_block(gx_pre, gy_pre)
        if tr is None:
            seq.add_block(gx)
        else:
            seq.add_block(gx, adc)
        gy_rew = pp.make_trapezoid(channel='y', area=-(line - n / 2) * dk, duration=pre_time, system=system)
        seq.add_block(spoiler, gy_rew)
        used = sum(seq.block_durations[b] for b in list(seq.block_events)[-6:])
        fill = round((args.tr - used) / system.block_duration_raster) * system.block_duration_raster
        if fill < 0:
            raise SystemExit(f'TR {args.tr} s is shorter than the events of one TR ({used:.5f} s)')
        if fill > 0:
            seq.add_block(pp.make_delay(fill))

    ok, errors = seq.check_timing()
    if not ok:
        raise SystemExit('timing check failed:\n' + '\n'.join(map(str, errors)))
    seq.set_definition('FOV', [args.fov, args.fov, args.slice])
    seq.set_definition('Name', 'gre_mre')
    seq.set_definition('MEGFrequency', args.frequency)
    seq.write(args.output)
    print(f'wrote {args.output}: {len(trs)} TRs of {1e3 * args.tr:.1f} ms ({args.dummies} dummies), {seq.duration()[0]:.2f} s')


if __name__ == '__main__':
    main()
