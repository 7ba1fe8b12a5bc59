#!/usr/bin/env python3
"""Make the Pulseq fixtures in tests/data/pulseq/ and their pypulseq references.

How the committed fixtures were made (from the repository root):

    python3 -m venv /work/venv-pq14 && /work/venv-pq14/bin/pip install pypulseq==1.4.2 'numpy<2'
    /work/venv-pq14/bin/python scripts/pulseq/make_sequences.py   # writes the 1.4.x files
    /work/venv-pq/bin/python   scripts/pulseq/make_sequences.py   # pypulseq 1.5.0: 1.5 files + every reference

Run under pypulseq 1.4.x the script writes only `spin_echo_v142.seq` (format 1.4.1 as
pypulseq 1.4.2 writes it). Run under pypulseq 1.5.x it writes the 1.5.0 files, one
file in pypulseq 1.5's `v141_compat` layout, and then, for *every* `.seq` file in the
directory, a reference `NAME.ref.json` computed by pypulseq 1.5 from the file as
read back (so the references describe the rounded file content):

- `k_adc`: `calculate_kspace()`'s `k_traj_adc` at every ADC sample, rows kx, ky, kz, 1/m
- `t_adc`: ADC sample times, s; `n_adc`: ADC sample count; `total_duration`: s
- `blocks`: the block table `[id, duration in block rasters, rf, gx, gy, gz, adc, ext]`
  as read without duplicate removal
- `labels_adc`: `evaluate_labels(evolution='adc')`, label values per ADC event

1.4.x files are read with `detect_rf_use=True` (RF use inferred from the flip angle,
as pypulseq's reader does by default for files older than 1.5).

Sequences: (a) 64x64 spoiled GRE with a sinc slice-selective excitation and RF
spoiling (a benchmark case); (b) GRE with a bipolar trapezoid motion-encoding
gradient, LABELSET/LABELINC of LIN and SET and a digital-output TRIGGER per TR;
(c) spin echo with 90/180 sinc pulses, slice select, extended-trapezoid crushers and
an arbitrary (sine) spoiler; (d) non-selective bSSFP with block pulses of
alternating phase; (e) single-shot EPI with ramp sampling and blips.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pypulseq as pp

OUT = Path(__file__).resolve().parents[2] / 'tests' / 'data' / 'pulseq'
PP15 = hasattr(pp, '__version__') and pp.__version__.startswith('1.5')


def system():
    return pp.Opts(
        max_grad=28,
        grad_unit='mT/m',
        max_slew=150,
        slew_unit='T/m/s',
        rf_ringdown_time=20e-6,
        rf_dead_time=100e-6,
        adc_dead_time=10e-6,
    )


def round_up(t, raster):
    return math.ceil(t / raster - 1e-9) * raster


def new_seq(sys_, name, fov, thickness):
    seq = pp.Sequence(sys_)
    seq.set_definition('FOV', [fov, fov, thickness])
    seq.set_definition('Name', name)
    return seq


def spoiled_gre(n=64, meg=False, tr_label=False):
    """(a) spoiled GRE; with meg=True (b) the MRE variant with bipolar MEG, labels and triggers."""
    sys_ = system()
    fov, thick = 0.256, 3e-3
    nx = ny = n
    seq = new_seq(sys_, 'gre_meg' if meg else 'gre', fov, thick)
    rf, gz, _ = pp.make_sinc_pulse(
        flip_angle=15 * math.pi / 180,
        duration=2e-3,
        slice_thickness=thick,
        apodization=0.42,
        time_bw_product=4,
        system=sys_,
        return_gz=True,
        use='excitation',
    )
    dk = 1 / fov
    gx = pp.make_trapezoid('x', flat_area=nx * dk, flat_time=1.6e-3 if n <= 32 else 3.2e-3, system=sys_)
    adc = pp.make_adc(num_samples=nx, duration=gx.flat_time, delay=gx.rise_time, system=sys_)
    gx_pre = pp.make_trapezoid('x', area=-gx.area / 2, duration=1e-3, system=sys_)
    gz_reph = pp.make_trapezoid('z', area=-gz.area / 2, duration=1e-3, system=sys_)
    phase_areas = (np.arange(ny) - ny / 2) * dk
    gx_spoil = pp.make_trapezoid('x', area=2 * nx * dk, system=sys_)
    gz_spoil = pp.make_trapezoid('z', area=4 / thick, system=sys_)
    # bipolar MEG on z: two 4 ms lobes of opposite sign (~ one 125 Hz cycle)
    meg_lobe = pp.make_trapezoid('z', amplitude=20e-3 * sys_.gamma, flat_time=3.6e-3, rise_time=200e-6, system=sys_)
    trig = pp.make_digital_output_pulse('ext1', duration=100e-6, system=sys_)
    rf_inc, rf_phase = 0.0, 0.0
    sets = 2 if meg else 1
    for s in range(sets):
        for i in range(ny):
            rf.phase_offset = rf_phase / 180 * math.pi
            adc.phase_offset = rf_phase / 180 * math.pi
            rf_inc = (rf_inc + 117) % 360.0
            rf_phase = (rf_phase + rf_inc) % 360.0
            first = [rf, gz]
            if meg:
                first.append(trig)
                if i == 0:
                    first += [pp.make_label(type='SET', label='LIN', value=0), pp.make_label(type='SET', label='SET', value=s)]
            seq.add_block(*first)
            gy_pre = pp.make_trapezoid('y', area=phase_areas[i], duration=pp.calc_duration(gx_pre), system=sys_)
            seq.add_block(gx_pre, gy_pre, gz_reph)
            if meg:
                sign = 1 if s == 0 else -1
                seq.add_block(pp.scale_grad(meg_lobe, sign))
                seq.add_block(pp.scale_grad(meg_lobe, -sign))
            else:
                seq.add_block(pp.make_delay(1e-3))
            seq.add_block(gx, adc)
            gy_rew = pp.make_trapezoid('y', area=-phase_areas[i], duration=pp.calc_duration(gx_pre), system=sys_)
            last = [gx_spoil, gy_rew, gz_spoil]
            if meg:
                last.append(pp.make_label(type='INC', label='LIN', value=1))
            seq.add_block(*last)
            if not meg:
                seq.add_block(pp.make_delay(2e-3))
    return seq


def spin_echo(n=32):
    """(c) spin echo, 90/180 sinc with slice select, crushers as extended trapezoids."""
    sys_ = system()
    fov, thick = 0.256, 5e-3
    nx = ny = n
    seq = new_seq(sys_, 'se', fov, thick)
    rf90, gz90, gzr = pp.make_sinc_pulse(
        flip_angle=math.pi / 2, duration=2e-3, slice_thickness=thick, apodization=0.5, time_bw_product=4,
        system=sys_, return_gz=True, use='excitation')
    rf180, gz180, _ = pp.make_sinc_pulse(
        flip_angle=math.pi, duration=2.5e-3, slice_thickness=thick, apodization=0.5, time_bw_product=4,
        phase_offset=math.pi / 2, system=sys_, return_gz=True, use='refocusing')
    dk = 1 / fov
    gx = pp.make_trapezoid('x', flat_area=nx * dk, flat_time=2.56e-3, system=sys_)
    adc = pp.make_adc(num_samples=nx, duration=gx.flat_time, delay=gx.rise_time, system=sys_)
    gx_pre = pp.make_trapezoid('x', area=gx.area / 2, duration=1.2e-3, system=sys_)
    phase_areas = (np.arange(ny) - ny / 2) * dk
    # slice-select of the 180 with crushers on both sides: one extended trapezoid (time shape)
    crush = 7.5e-3 * sys_.gamma  # 7.5 mT/m, Hz/m
    amp, ss = 2 * crush, gz180.amplitude
    r = 200e-6
    t_flat = gz180.flat_time
    times = np.array([0, r, r + 600e-6, r + 600e-6 + r, 2 * r + 600e-6 + t_flat, 3 * r + 600e-6 + t_flat,
                      3 * r + 1200e-6 + t_flat, 4 * r + 1200e-6 + t_flat])
    amps = np.array([0, amp, amp, ss, ss, amp, amp, 0])
    gz_ext = pp.make_extended_trapezoid('z', times=times, amplitudes=amps, system=sys_)
    rf180.delay = round_up(2 * r + 600e-6, sys_.rf_raster_time)
    # arbitrary sine spoiler on x (regular raster, first = last = 0)
    ns = 80
    wave = 10e-3 * sys_.gamma * np.sin(np.pi * (np.arange(ns) + 0.5) / ns)
    gx_spoil = pp.make_arbitrary_grad('x', waveform=wave, system=sys_) if not PP15 else \
        pp.make_arbitrary_grad('x', waveform=wave, first=0, last=0, system=sys_)
    te = 20e-3
    t90 = pp.calc_duration(rf90, gz90)
    d1 = te / 2 - (t90 - rf90.delay - 1e-3) - pp.calc_duration(gzr, gx_pre) - (rf180.delay + 1.25e-3)
    d1 = round_up(max(d1, 0), sys_.grad_raster_time)
    d2 = te / 2 - (pp.calc_duration(gz_ext) - rf180.delay - 1.25e-3) - gx.rise_time - gx.flat_time / 2
    d2 = round_up(max(d2, 0), sys_.grad_raster_time)
    for i in range(ny):
        seq.add_block(rf90, gz90)
        gy_pre = pp.make_trapezoid('y', area=phase_areas[i], duration=1.2e-3, system=sys_)
        seq.add_block(gzr, gx_pre, gy_pre)
        seq.add_block(pp.make_delay(d1))
        seq.add_block(rf180, gz_ext)
        seq.add_block(pp.make_delay(d2))
        seq.add_block(gx, adc)
        seq.add_block(gx_spoil)
        seq.add_block(pp.make_delay(5e-3))
    return seq


def bssfp(n=32):
    """(d) non-selective bSSFP with block pulses of alternating phase (0, pi)."""
    sys_ = system()
    fov = 0.256
    nx = ny = n
    seq = new_seq(sys_, 'bssfp', fov, 0.256)
    rf = pp.make_block_pulse(flip_angle=40 * math.pi / 180, duration=300e-6, system=sys_, use='excitation')
    dk = 1 / fov
    gx = pp.make_trapezoid('x', flat_area=nx * dk, flat_time=1.28e-3, system=sys_)
    adc = pp.make_adc(num_samples=nx, duration=gx.flat_time, delay=gx.rise_time, system=sys_)
    gx_pre = pp.make_trapezoid('x', area=-gx.area / 2, duration=0.6e-3, system=sys_)
    phase_areas = (np.arange(ny) - ny / 2) * dk
    for i in range(-4, ny):  # 4 dummies
        phase = math.pi * (i % 2)
        rf.phase_offset = phase
        adc.phase_offset = phase
        seq.add_block(rf)
        area = phase_areas[i] if i >= 0 else 0.0
        gy = pp.make_trapezoid('y', area=area, duration=0.6e-3, system=sys_)
        seq.add_block(gx_pre, gy)
        if i >= 0:
            seq.add_block(gx, adc)
        else:
            seq.add_block(gx)
        seq.add_block(gx_pre, pp.scale_grad(gy, -1))
    return seq


def epi(n=32):
    """(e) single-shot EPI, ramp sampling over the whole readout trapezoid, blips in between."""
    sys_ = system()
    fov, thick = 0.22, 4e-3
    nx = ny = n
    seq = new_seq(sys_, 'epi', fov, thick)
    rf, gz, gzr = pp.make_sinc_pulse(
        flip_angle=math.pi / 2, duration=2e-3, slice_thickness=thick, apodization=0.5, time_bw_product=4,
        system=sys_, return_gz=True, use='excitation')
    dk = 1 / fov
    gx = pp.make_trapezoid('x', area=nx * dk * 1.25, duration=0.5e-3, system=sys_)
    dwell = round((pp.calc_duration(gx) - 20e-6) / nx / 1e-7) * 1e-7
    adc = pp.make_adc(num_samples=nx, dwell=dwell, delay=10e-6, system=sys_)
    blip = pp.make_trapezoid('y', area=dk, duration=100e-6, system=sys_)
    gx_pre = pp.make_trapezoid('x', area=-gx.area / 2, duration=0.6e-3, system=sys_)
    gy_pre = pp.make_trapezoid('y', area=-ny / 2 * dk, duration=0.6e-3, system=sys_)
    seq.add_block(rf, gz)
    seq.add_block(gx_pre, gy_pre, gzr, pp.make_label(type='SET', label='LIN', value=0))
    for i in range(ny):
        seq.add_block(gx, adc, pp.make_label(type='SET', label='REV', value=bool(i % 2)))
        gx = pp.scale_grad(gx, -1)
        if i < ny - 1:
            seq.add_block(blip, pp.make_label(type='INC', label='LIN', value=1))
    seq.add_block(pp.make_delay(5e-3))
    return seq


def reference(path):
    """pypulseq 1.5's view of one file: k-space at every ADC sample, durations, block table, labels."""
    seq = pp.Sequence()
    v14 = '\nminor 4\n' in path.read_text()
    seq.read(str(path), detect_rf_use=v14, remove_duplicates=False)
    k_adc, _, t_exc, t_ref, t_adc = seq.calculate_kspace()
    blocks = [[int(b), int(round(seq.block_durations[b] / seq.block_duration_raster)), *map(int, e[1:])]
              for b, e in seq.block_events.items()]
    labels = seq.evaluate_labels(evolution='adc')
    ref = {
        'file': path.name,
        'pypulseq': pp.__version__,
        'n_adc': int(len(t_adc)),
        'total_duration': float(sum(seq.block_durations.values())),
        'n_excitation': len(t_exc),
        'n_refocusing': len(t_ref),
        't_adc': [float(f'{t:.12g}') for t in t_adc],
        'k_adc': [[float(f'{v:.10g}') for v in row] for row in k_adc],
        'blocks': blocks,
        'labels_adc': {k: [int(x) for x in np.atleast_1d(v)] for k, v in labels.items()},
    }
    out = path.with_suffix('.ref.json')
    out.write_text(json.dumps(ref, separators=(',', ':')) + '\n')
    print(f'{out.name}: {ref["n_adc"]} ADC samples, {ref["total_duration"]:.6f} s, k_max '
          f'{np.nanmax(np.abs(k_adc)):.3f} 1/m')


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    if not PP15:
        spin_echo().write(str(OUT / 'spin_echo_v142.seq'))
        print('wrote spin_echo_v142.seq (pypulseq 1.4.x); now run this script with pypulseq 1.5')
        return
    spoiled_gre(64).write(str(OUT / 'gre_64.seq'))
    spoiled_gre(16, meg=True).write(str(OUT / 'gre_meg.seq'))
    spin_echo().write(str(OUT / 'spin_echo.seq'))
    bssfp().write(str(OUT / 'bssfp.seq'))
    epi().write(str(OUT / 'epi.seq'))
    spoiled_gre(16, meg=True).write(str(OUT / 'gre_meg_v141.seq'), v141_compat=True)
    for p in sorted(OUT.glob('*.seq')):
        reference(p)


if __name__ == '__main__':
    sys.exit(main())
