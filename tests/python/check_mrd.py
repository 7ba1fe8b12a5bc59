"""Check an mre-sim MRD file with the ismrmrd package against its mre-data file.

Usage: check_mrd.py OUT.mrd.h5 OUT.h5

Reads the MRD file with ismrmrd (Dataset.read_acquisition, read_xml_header,
xsd.CreateFromDocument), places every acquisition into k-space by its
encoding counters and checks that the result is /kspace (and
/kspace_negative) of the mre-data file rounded to complex64; then
reconstructs the images (centred inverse FFT, polarity combination) and
compares them with /images.
"""
import sys
from importlib.metadata import version

import h5py
import ismrmrd
import ismrmrd.xsd
import numpy as np

mrd_path, data_path = sys.argv[1], sys.argv[2]

with h5py.File(data_path, "r") as f:
    kspace = f["kspace"][()]
    kspace_neg = f["kspace_negative"][()] if "kspace_negative" in f else None
    images = f["images"][()]
    freqs = f["acquisition"].attrs["frequencies_hz"]
    comps = f["acquisition"].attrs["components"]
    comps = comps if isinstance(comps, str) else comps.decode()
nf, nc, noff, ncoils, nz, ny, nx = kspace.shape
npol = 1 if kspace_neg is None else 2

dset = ismrmrd.Dataset(mrd_path, "dataset", create_if_needed=False)
header = ismrmrd.xsd.CreateFromDocument(dset.read_xml_header())
enc = header.encoding[0]
assert enc.trajectory.value == "cartesian", enc.trajectory
m = enc.encodedSpace.matrixSize
assert (m.x, m.y, m.z) == (nx, ny, nz), (m, kspace.shape)
lim = enc.encodingLimits
for name, n in [("kspace_encoding_step_1", ny), ("kspace_encoding_step_2", nz), ("phase", noff),
                ("set", npol), ("contrast", nc), ("repetition", nf)]:
    assert getattr(lim, name).maximum == n - 1, (name, getattr(lim, name), n)
assert lim.kspace_encoding_step_1.center == ny // 2
assert header.experimentalConditions.H1resonanceFrequency_Hz > 0
user = header.userParameters
doubles = {p.name: p.value for p in user.userParameterDouble}
longs = {p.name: p.value for p in user.userParameterLong}
strings = {p.name: p.value for p in user.userParameterString}
assert longs["mre_phase_offsets"] == noff and longs["mre_polarities"] == npol, longs
assert np.allclose([doubles[f"vibration_frequency_hz_{i}"] for i in range(nf)], freqs), doubles
assert "".join(strings[f"meg_axis_{c}"] for c in range(nc)) == comps, strings

n_acq = dset.number_of_acquisitions()
assert n_acq == nf * nc * npol * noff * nz * ny, n_acq
k_mrd = np.zeros((npol,) + kspace.shape, np.complex64)
filled = np.zeros((npol, nf, nc, noff, nz, ny), int)
last_in_measurement = []
for i in range(n_acq):
    acq = dset.read_acquisition(i)
    idx = acq.idx
    assert acq.data.shape == (ncoils, nx) and acq.center_sample == nx // 2
    at = (idx.set, idx.repetition, idx.contrast, idx.phase)
    k_mrd[at + (slice(None), idx.kspace_encode_step_2, idx.kspace_encode_step_1)] = acq.data
    filled[at + (idx.kspace_encode_step_2, idx.kspace_encode_step_1)] += 1
    if acq.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT):
        last_in_measurement.append(i)
dset.close()
assert (filled == 1).all(), "every k-space line exactly once"
assert last_in_measurement == [n_acq - 1], last_in_measurement

reference = [kspace] + ([] if kspace_neg is None else [kspace_neg])
for p, ref in enumerate(reference):
    d32 = np.abs(k_mrd[p] - ref.astype(np.complex64)).max()
    rel = np.abs(k_mrd[p] - ref).max() / np.abs(ref).max()
    assert d32 == 0.0, f"set {p}: max |k_mrd - complex64(k)| = {d32}"
    assert rel < 1e-7, rel
    print(f"set {p}: k-space equals /kspace{'_negative' if p else ''} in complex64 "
          f"(max |dk| = {d32}); max |dk| / max |k| vs float64 = {rel:.2e}")

# images: centred inverse FFT over (z, y, x) as solver/src/recon/fft.rs, coil 0
axes = (-3, -2, -1)
def recon(k):
    k = k.astype(np.complex128)[:, :, :, 0]
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(k, axes=axes), axes=axes), axes=axes)

img = recon(k_mrd[0])
if npol == 2:
    neg = recon(k_mrd[1])
    mag = np.abs(neg)
    img = np.where(mag > 0, img * np.conj(neg) / np.where(mag > 0, mag, 1), 0)
err = np.abs(img - images).max() / np.abs(images).max()
assert err < 1e-5, err
print(f"ismrmrd {version('ismrmrd')}: {n_acq} acquisitions of {mrd_path} reconstruct /images "
      f"{images.shape} to max |d| / max |image| = {err:.2e}")
