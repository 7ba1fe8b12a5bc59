#!/usr/bin/env python3
"""SciPy reference timing for the 2-D wave-solver benchmark (`bench_helmholtz_2d`).

Builds the same complex 5-point finite-volume system as `mre_solver::wave` for the
benchmark problem: n x n voxels of 1 mm, homogeneous G* = 3 kPa + 0.3 kPa i,
rho = 1000 kg/m^3, 60 Hz, a PML of min(16, n/4) voxels on every face (quadratic
profile s = 1 - i*alpha*(d/L)^2, alpha = 8, then u = 0 on the outer face), unit
point source in the central voxel. Times assembly + `scipy.sparse.linalg.spsolve`
(SuperLU, default COLAMD ordering), median of the repeats. Single-threaded like
the Rust benchmark: BLAS threads are limited to 1 unless set in the environment
(threaded OpenBLAS inside SuperLU was 4x slower on a busy 2-core machine).

Usage: python scripts/bench/scipy_helmholtz.py [n] [repeats]
Needs numpy and scipy (e.g. python3 -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install scipy).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

H = 1e-3
G = 3e3 + 3e2j
RHO = 1e3
OMEGA = 2 * np.pi * 60.0
ALPHA = 8.0


def stretch(n, pml, positions):
    """Stretch factor at positions (voxel units, 0 = low face) with PML on both faces."""
    depth = np.maximum(pml - positions, 0.0) + np.maximum(positions - (n - pml), 0.0)
    return 1.0 - 1j * ALPHA * (depth / pml) ** 2


def assemble(n):
    pml = min(16, n // 4)
    sc = stretch(n, pml, np.arange(n) + 0.5)  # centres
    sf = stretch(n, pml, np.arange(n + 1, dtype=float))  # faces
    idx = np.arange(n * n).reshape(n, n)  # [y, x]
    sy = sc[:, None] * np.ones((1, n))
    sx = np.ones((n, 1)) * sc[None, :]
    diag = sx * sy * RHO * OMEGA**2
    rows, cols, vals = [], [], []
    # x faces between (y, x) and (y, x + 1): T = G s_y / (s_x(face) h^2)
    tx = G * sy[:, :-1] / (sf[None, 1:-1] * H * H)
    # y faces between (y, x) and (y + 1, x): T = G s_x / (s_y(face) h^2)
    ty = G * sx[:-1, :] / (sf[1:-1, None] * H * H)
    for t, a, b in ((tx, idx[:, :-1], idx[:, 1:]), (ty, idx[:-1, :], idx[1:, :])):
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [t.ravel(), t.ravel()]
    diag[:, :-1] -= tx
    diag[:, 1:] -= tx
    diag[:-1, :] -= ty
    diag[1:, :] -= ty
    # Clamped outer faces (u = 0 half a voxel beyond the centres): 2 G s_other / (s(face) h^2).
    diag[:, 0] -= 2 * G * sy[:, 0] / (sf[0] * H * H)
    diag[:, -1] -= 2 * G * sy[:, -1] / (sf[n] * H * H)
    diag[0, :] -= 2 * G * sx[0, :] / (sf[0] * H * H)
    diag[-1, :] -= 2 * G * sx[-1, :] / (sf[n] * H * H)
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n))
    b = np.zeros(n * n, dtype=complex)
    b[idx[n // 2, n // 2]] = 1.0
    return a, b


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a, b = assemble(n)
        u = spla.spsolve(a, b)
        times.append(time.perf_counter() - t0)
    residual = np.linalg.norm(a @ u - b) / np.linalg.norm(b)
    lu = spla.splu(a)
    fill = lu.L.nnz + lu.U.nnz
    print(f"scipy {scipy.__version__} spsolve (SuperLU) {n}x{n}: median {np.median(times):.3f} s "
          f"(runs {', '.join(f'{t:.3f}' for t in times)}), nnz(A) {a.nnz}, nnz(L+U) {fill}, relative residual {residual:.1e}, "
          f"|u| at centre {abs(u[(n // 2) * n + n // 2]):.6e}")


if __name__ == "__main__":
    main()
