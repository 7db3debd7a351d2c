"""Regenerate the hostile NWB fixtures of tests/hostile.rs (h5py 3.16,
HDF5 2.0.0). Run from this folder: python3 make_hostile.py

Each file is a minimal /units table that is wrong in one way.
"""
import h5py
import numpy as np


def units(name, times, index, libver=None, **kw):
    with h5py.File(name, "w", libver=libver) as f:
        u = f.create_group("units")
        if times is not None:
            u.create_dataset("spike_times", data=times, **kw)
        u.create_dataset("spike_times_index", data=index)


# A dataspace claiming 3e8 spikes that were never written (2.7 KB file).
with h5py.File("claims_3e8.nwb", "w") as f:
    u = f.create_group("units")
    u.create_dataset("spike_times", shape=(300_000_000,), dtype="f8")
    u.create_dataset("spike_times_index", data=np.array([300_000_000], dtype=np.uint64))
# The same, chunked, with no chunk written.
with h5py.File("claims_3e8_chunked.nwb", "w") as f:
    u = f.create_group("units")
    u.create_dataset("spike_times", shape=(300_000_000,), dtype="f8", chunks=(1000,))
    u.create_dataset("spike_times_index", data=np.array([300_000_000], dtype=np.uint64))
# Chunk metadata of 2 GiB per chunk (no chunk written, so the file is small).
with h5py.File("huge_chunk.nwb", "w") as f:
    u = f.create_group("units")
    u.create_dataset("spike_times", shape=(10,), maxshape=(None,), dtype="f8",
                     chunks=(1 << 28,), compression="gzip")
    u.create_dataset("spike_times_index", data=np.array([10], dtype=np.uint32))
# Milliseconds as int64: the schema wants float seconds.
units("int64_times.nwb", np.array([100, 250, 900], dtype=np.int64), np.array([3], dtype=np.uint32))
# 2-D spike times, a 2-D index, a scalar.
units("times_2d.nwb", np.array([[0.1], [0.2]]), np.array([2], dtype=np.uint32))
units("index_2d.nwb", np.array([0.1, 0.2]), np.array([[2]], dtype=np.uint32))
units("scalar_times.nwb", np.float64(0.5), np.array([1], dtype=np.uint32))
# A valid file in the newest layout (libver='latest', gzip + shuffle).
units("latest_gzip.nwb", np.array([0.1, 0.25, 0.5]), np.array([2, 3], dtype=np.uint32),
      libver="latest", chunks=(2,), compression="gzip", shuffle=True)
