"""Check that h5py reads an mre-sim output file as the mre-data v1 contract says."""
import sys

import h5py
import numpy as np

path = sys.argv[1]
with h5py.File(path, "r") as f:
    assert f.attrs["format"] in (b"mre-data", "mre-data"), f.attrs["format"]
    assert int(f.attrs["version"]) == 1
    acq = f["acquisition"].attrs
    nf = len(acq["frequencies_hz"])
    ncomp = len(acq["components"] if isinstance(acq["components"], str) else acq["components"].decode())
    wave = f["wave"][()]
    assert wave.dtype == np.complex128, wave.dtype
    assert wave.ndim == 5 and wave.shape[:2] == (nf, ncomp), wave.shape
    spatial = wave.shape[2:]
    for name, nd in [("phase", 6), ("images", 6), ("kspace", 7)]:
        d = f[name]
        assert d.ndim == nd and d.shape[-3:] == spatial, (name, d.shape)
    assert f["images"].dtype == np.complex128 and f["kspace"].dtype == np.complex128
    for name in ["magnitude", "mask", "labels", "ground_truth/storage_modulus_pa", "ground_truth/loss_modulus_pa"]:
        assert f[name].shape == spatial, (name, f[name].shape)
    assert f["mask"].dtype == np.uint8 and f["labels"].dtype == np.uint16
    mask = f["mask"][()].astype(bool)
    assert np.isfinite(wave).all() and np.abs(wave[..., mask]).max() > 0
    prov = f["provenance"].attrs
    for key in ["tool", "version", "config", "created"]:
        assert key in prov, key
    print(f"h5py {h5py.__version__}: {path} OK, /wave {wave.shape} complex128, max |U| = {np.abs(wave).max() * 1e6:.2f} um")
