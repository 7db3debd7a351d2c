"""Regenerate the NumPy-written fixtures of tests/io.rs (NumPy 2.4.6).

Run from this folder: python3 make_fixtures.py
"""
import os

import numpy as np

# Units x time raster (N=3, T=5) next to another array, np.savez (stored,
# with NumPy's forced zip64 local headers).
x = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=np.uint8)
np.savez("units_time_savez.npz", spikes=x, J=np.eye(3))
# The same raster as time x units, bool, Fortran order, deflated.
np.savez_compressed("time_units_compressed.npz", np.asfortranarray(x.T.astype(bool)))
# A Kilosort folder: (n, 1) uint64 sample indices, uint32 clusters.
os.makedirs("kilosort_numpy", exist_ok=True)
st = np.array([3000, 4500, 6000, 30000, 30001], dtype=np.uint64).reshape(-1, 1)
np.save("kilosort_numpy/spike_times.npy", st)
np.save("kilosort_numpy/spike_clusters.npy", np.array([7, 2, 7, 2, 11], dtype=np.uint32))
with open("kilosort_numpy/params.py", "w") as f:
    f.write("dat_path = 'raw.bin'\nn_channels_dat = 385\ndtype = 'int16'\n"
            "offset = 0\nsample_rate = 30000.\nhp_filtered = False\n")
with open("kilosort_numpy/cluster_KSLabel.tsv", "w") as f:
    f.write("cluster_id\tKSLabel\n2\tmua\n7\tgood\n11\tgood\n")
