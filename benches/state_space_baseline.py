#!/usr/bin/env python3
"""Baseline for benches/state_space.rs: a straightforward dense per-neuron
Laplace (Newton) filter, RTS smoother and EM for the state-space kinetic
Ising model, written from shared/spec/state-space.md sections 1-6 (what a
user would write with NumPy, optionally compiled with numba), not from any
reference implementation.

Usage: state_space_baseline.py RASTER.npy ITERATIONS {numpy,numba}
RASTER is (R trials, T+1 bins, N units), 0/1. Prints one JSON line:
{"variant", "iterations", "first_s", "warm_s_median", "total_s",
"cpu_first_s", "cpu_warm_s_median", "evidence": [...]} (times in wall
seconds, cpu_* in process CPU seconds; the numba variant compiles before
the clock starts).

Per neuron i and transition t, with X_t = [1, s(t)] (R x D), y = s_i(t+1):
Newton on L = theta.X^T y - sum softplus(X theta) - 1/2 (theta - m)^T P (theta - m),
P = Sigma_o^{-1}, Sigma_o = Sigma_f(t-1) + Q, stop at max|grad|/R < 1e-5 (the
reference's default), warm start from the previous EM iteration; Sigma_f =
H^{-1}; smoother A = Sigma_f Sigma_o(t+1)^{-1}; M-step diagonal Q and
Sigma0 = Sigma_s(0) + theta_s(0) theta_s(0)^T.
"""
import json
import statistics
import sys
import time

import numpy as np


def em_neuron(X, y, q, S0, thf, tol):
    """One EM iteration of one neuron. X (T, R, D), y (T, R), q (D,),
    S0 (D, D), thf (T, D) warm start, updated in place. Returns
    (evidence, new q, new S0)."""
    T, R, D = X.shape
    Sf = np.empty((T, D, D))
    So = np.empty((T, D, D))
    ev = 0.0
    m = np.zeros(D)
    for t in range(T):
        if t == 0:
            m = np.zeros(D)
            S_o = S0.copy()
        else:
            m = thf[t - 1].copy()
            S_o = Sf[t - 1] + np.diag(q)
        So[t] = S_o
        P = np.linalg.inv(S_o)
        Xt = X[t]
        yt = y[t]
        th = thf[t].copy()
        for _ in range(100):
            a = Xt @ th
            p = 1.0 / (1.0 + np.exp(-a))
            g = Xt.T @ (yt - p) - P @ (th - m)
            if np.max(np.abs(g)) / R < tol:
                break
            H = (Xt.T * (p * (1.0 - p))) @ Xt + P
            th = th + np.linalg.solve(H, g)
        a = Xt @ th
        p = 1.0 / (1.0 + np.exp(-a))
        H = (Xt.T * (p * (1.0 - p))) @ Xt + P
        Sf[t] = np.linalg.inv(H)
        thf[t] = th
        d = th - m
        sp = np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))
        ev += th @ (Xt.T @ yt) - np.sum(sp) - 0.5 * d @ (P @ d)
        ev += 0.5 * np.linalg.slogdet(Sf[t])[1] - 0.5 * np.linalg.slogdet(S_o)[1]
    ths = thf.copy()
    Ss = Sf.copy()
    qs = np.zeros(D)
    for t in range(T - 2, -1, -1):
        A = Sf[t] @ np.linalg.inv(So[t + 1])
        ths[t] = thf[t] + A @ (ths[t + 1] - thf[t])
        Ss[t] = Sf[t] + A @ (Ss[t + 1] - So[t + 1]) @ A.T
        C = A @ Ss[t + 1]
        j = ths[t + 1] - ths[t]
        qs += j * j + np.diag(Ss[t + 1]) + np.diag(Ss[t]) - 2.0 * np.diag(C)
    q_new = qs / (T - 1) if T > 1 else q.copy()
    S0_new = Ss[0] + np.outer(ths[0], ths[0])
    return ev, q_new, S0_new


def main():
    path, iterations, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    raster = np.load(path).astype(np.float64)
    R, B, N = raster.shape
    T, D = B - 1, N + 1
    X = np.ones((T, R, D))
    X[:, :, 1:] = raster[:, :T, :].transpose(1, 0, 2)
    Y = raster[:, 1:, :].transpose(2, 1, 0).copy()  # (N, T, R)
    step = em_neuron
    if variant == "numba":
        import numba

        step = numba.njit(em_neuron)
        step(X[:3], Y[0][:3], np.full(D, 0.5), np.eye(D), np.zeros((3, D)), 1e-5)
    qs = [np.full(D, 0.5) for _ in range(N)]
    s0s = [np.eye(D) for _ in range(N)]
    thfs = [np.zeros((T, D)) for _ in range(N)]
    times, cpu, evidence = [], [], []
    for _ in range(iterations):
        c = time.perf_counter()
        cp = time.process_time()
        total = 0.0
        for i in range(N):
            ev, qs[i], s0s[i] = step(X, Y[i], qs[i], s0s[i], thfs[i], 1e-5)
            total += ev
        times.append(time.perf_counter() - c)
        cpu.append(time.process_time() - cp)
        evidence.append(total)
    print(json.dumps({
        "variant": variant,
        "iterations": iterations,
        "first_s": times[0],
        "warm_s_median": statistics.median(times[1:]) if len(times) > 1 else times[0],
        "total_s": sum(times),
        "cpu_first_s": cpu[0],
        "cpu_warm_s_median": statistics.median(cpu[1:]) if len(cpu) > 1 else cpu[0],
        "evidence": evidence,
    }))


if __name__ == "__main__":
    main()
