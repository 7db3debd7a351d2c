"""Baseline for `isingscope simulate --moments-only` (the Plefka paper's
reference statistics): a straightforward NumPy loop over trials (vectorised
within a trial, as benches/numpy_baseline.py), then m(t), C(t), D(t) across
trials with BLAS products, written as the CLI writes them (m.csv, C.csv,
D.csv and, unless --final-only, C_t.npy / D_t.npy of shape (T, N, N)).

Usage: python3 benches/numpy_moments_baseline.py OUTDIR [--final-only] [--repeats K]
Prints the seconds of each end-to-end run and their median."""
import os
import sys
import time

import numpy as np

N, T, R = 512, 128, 1000
out = sys.argv[1]
final_only = "--final-only" in sys.argv
repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
rng = np.random.default_rng(1)
# The paper's network at beta_c: J ~ Normal(J0/N, DJ^2/N), H ~ U[-H0, H0].
J = rng.normal(1.0 / N, 0.1 / np.sqrt(N), size=(N, N)) * 1.1108397534245904
H = rng.uniform(-0.5, 0.5, size=N) * 1.1108397534245904


def run():
    s_all = np.empty((R, T + 1, N), dtype=np.int8)
    for r in range(R):
        s = np.ones(N)
        s_all[r, 0] = s
        for t in range(T):
            h = H + J @ s
            s = np.where(rng.random(N) < (1 + np.tanh(h)) / 2, 1.0, -1.0)
            s_all[r, t + 1] = s
    m = s_all.mean(axis=0, dtype=np.float64)  # (T+1, N)
    steps = [T] if final_only else range(1, T + 1)
    C_t, D_t = [], []
    for t in steps:
        x = s_all[:, t].astype(np.float64)
        xp = s_all[:, t - 1].astype(np.float64)
        C_t.append(x.T @ x / R - np.outer(m[t], m[t]))
        D_t.append(x.T @ xp / R - np.outer(m[t], m[t - 1]))
    os.makedirs(out, exist_ok=True)
    np.savetxt(os.path.join(out, "m.csv"), m[1:], delimiter=",", fmt="%.17e")
    np.savetxt(os.path.join(out, "C.csv"), C_t[-1], delimiter=",", fmt="%.17e")
    np.savetxt(os.path.join(out, "D.csv"), D_t[-1], delimiter=",", fmt="%.17e")
    if not final_only:
        np.save(os.path.join(out, "C_t.npy"), np.array(C_t))
        np.save(os.path.join(out, "D_t.npy"), np.array(D_t))


times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
print(
    f"numpy moments baseline N={N} T={T} R={R} final_only={final_only}: "
    f"median {sorted(times)[len(times) // 2]:.3f} s (all: {', '.join(f'{x:.3f}' for x in times)})"
)
