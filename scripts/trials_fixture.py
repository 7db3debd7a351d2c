#!/usr/bin/env python3
"""Write a small trial-structured NWB recording for the PSTH screenshots.

40 units fire at 4 Hz (Poisson) for 300 s; one trial every 3 s from 1 s on
(start_time, stop_time = start + 1.5 s) with a `stimulus` column cycling
A, B, C and a numeric `contrast` column. Unit i responds 40 Hz for 150 ms
starting (30 + 5 i) ms after the event: to A when i % 3 == 0, to B when
i % 3 == 1, to both when i % 3 == 2 (C: no response). Seeded.

Usage: python3 scripts/trials_fixture.py OUT.nwb   (needs: pip install pynwb)
"""
import sys
from datetime import datetime, timezone

import numpy as np
from pynwb import NWBFile, NWBHDF5IO

out = sys.argv[1]
rng = np.random.default_rng(15)
seconds, n_units = 300.0, 40
starts = np.arange(1.0, seconds - 1.5, 3.0)
stimuli = ["A", "B", "C"]
nwb = NWBFile(
    session_description="isingscope PSTH screenshot fixture (synthetic)",
    identifier="isingscope-trials-fixture",
    session_start_time=datetime(2026, 12, 8, tzinfo=timezone.utc),
)
nwb.add_trial_column(name="stimulus", description="condition")
nwb.add_trial_column(name="contrast", description="stimulus contrast")
for k, s in enumerate(starts):
    nwb.add_trial(start_time=s, stop_time=s + 1.5, stimulus=stimuli[k % 3],
                  contrast=[1.0, 0.5, 0.0][k % 3])
for i in range(n_units):
    t = np.cumsum(rng.exponential(1 / 4.0, size=int(seconds * 6)))
    spikes = [t[t < seconds]]
    latency = 0.03 + 0.005 * i
    for k, s in enumerate(starts):
        cond = stimuli[k % 3]
        responds = (cond == "A" and i % 3 in (0, 2)) or (cond == "B" and i % 3 in (1, 2))
        if responds:
            r = s + latency + np.cumsum(rng.exponential(1 / 40.0, size=20))
            spikes.append(r[r < s + latency + 0.15])
    nwb.add_unit(spike_times=np.sort(np.concatenate(spikes)))
with NWBHDF5IO(out, "w") as io:
    io.write(nwb)
print(f"wrote {out}: {n_units} units, {len(starts)} trials")
