"""Baseline for the simulation benchmark: a straightforward NumPy loop over
trials (vectorised within a trial), N = 512, 128 steps x 1000 trials, as in
the mean-field paper's simulations. Run: python3 benches/numpy_baseline.py
Prints seconds per full run (median of 3)."""
import time
import numpy as np

N, T, R = 512, 128, 1000
rng = np.random.default_rng(1)
J = rng.normal(1.0 / N, 0.5 / np.sqrt(N), size=(N, N))
H = np.zeros(N)


def run():
    out = np.empty((R, T + 1, N), dtype=np.int8)
    for r in range(R):
        s = np.ones(N)
        out[r, 0] = s
        for t in range(T):
            h = H + J @ s
            s = np.where(rng.random(N) < (1 + np.tanh(h)) / 2, 1.0, -1.0)
            out[r, t + 1] = s
    return out


times = []
for _ in range(3):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
print(f"numpy loop over trials, N={N}, T={T}, R={R}: median {sorted(times)[1]:.3f} s  (all: {', '.join(f'{x:.3f}' for x in times)})")
