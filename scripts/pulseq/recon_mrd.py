#!/usr/bin/env python3
"""Reconstruct an mre-sim MRD file with the ismrmrd package: k-space by the
encoding counters, centred inverse FFT, polarity combination, phase, and the
first temporal harmonic over the mechanical phase offsets (the wave image; the
phase is not unwrapped here, `mre-sim` unwraps it for /wave).

    pip install ismrmrd numpy matplotlib
    python scripts/pulseq/recon_mrd.py out/pulseq-gre-mre.mrd.h5 [wave.png]

Counters (docs/mrd.md): kspace_encode_step_1 = ky, kspace_encode_step_2 = kz,
phase = mechanical offset k, set = MEG polarity (0 = +, 1 = -),
contrast = encoded component, repetition = vibration frequency.
"""

import sys

import ismrmrd
import ismrmrd.xsd
import numpy as np


def main():
    path = sys.argv[1]
    dset = ismrmrd.Dataset(path, 'dataset', create_if_needed=False)
    header = ismrmrd.xsd.CreateFromDocument(dset.read_xml_header())
    enc = header.encoding[0]
    nx, ny, nz = enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y, enc.encodedSpace.matrixSize.z
    lim = enc.encodingLimits
    nf, nc = lim.repetition.maximum + 1, lim.contrast.maximum + 1
    npol, noff = lim.set.maximum + 1, lim.phase.maximum + 1
    k = np.zeros((nf, nc, npol, noff, nz, ny, nx), np.complex64)
    for i in range(dset.number_of_acquisitions()):
        a = dset.read_acquisition(i)
        c = a.idx
        k[c.repetition, c.contrast, c.set, c.phase, c.kspace_encode_step_2, c.kspace_encode_step_1] = a.data[0]
    axes = (-3, -2, -1)
    img = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(k, axes=axes), axes=axes), axes=axes)
    # + against - polarity removes the static background phase
    combined = img[:, :, 0] * np.conj(img[:, :, 1]) / np.maximum(np.abs(img[:, :, 1]), 1e-30) if npol == 2 else img[:, :, 0]
    phase = np.angle(combined)  # [nf, nc, noff, nz, ny, nx]
    theta = 2 * np.pi * np.arange(noff) / noff
    harmonic = 2 / noff * np.tensordot(np.exp(-1j * theta), phase, axes=([0], [2]))  # [nf, nc, nz, ny, nx], rad
    print(f'{path}: {dset.number_of_acquisitions()} acquisitions, matrix {nx}x{ny}x{nz}, {nf} frequencies, '
          f'{nc} components, {npol} polarities, {noff} offsets; first-harmonic phase up to {np.abs(harmonic).max():.3f} rad')
    if len(sys.argv) > 2:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(8, 4))
        ax[0].imshow(np.abs(combined[0, 0, 0, nz // 2]), cmap='gray')
        ax[0].set_title('magnitude')
        mag = np.abs(combined[0, 0, 0, nz // 2])
        shown = np.where(mag > 0.3 * mag.max(), harmonic[0, 0, nz // 2].real, np.nan)
        ax[1].imshow(shown, cmap='RdBu')
        ax[1].set_title('Re first harmonic of the phase (rad, wrapped)')
        for a in ax:
            a.axis('off')
        fig.savefig(sys.argv[2], dpi=100, bbox_inches='tight')
        print(f'wrote {sys.argv[2]}')


if __name__ == '__main__':
    main()
