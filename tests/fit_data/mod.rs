//! A common-input raster shared by the issue-13 CLI and GUI tests.

use isingscope::spikes::SpikeRaster;
use rand::{RngExt, SeedableRng};

/// 24 units at 2–5 % of bins, a third firing with probability 0.9 in a
/// 20-bin burst at bin 100 of each of 40 trials of 500 bins.
pub fn burst_raster() -> SpikeRaster {
    let (n, trials, bins) = (24, 40, 500);
    let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
    let rate: Vec<f64> = (0..n).map(|_| r.random_range(0.02..0.05)).collect();
    let mut raster = SpikeRaster::zeros(trials, bins, n).unwrap();
    for tr in 0..trials {
        for t in 0..bins {
            let burst = (100..120).contains(&t);
            for (i, &p) in rate.iter().enumerate() {
                let p = if burst && i < n / 3 { 0.9 } else { p };
                if r.random::<f64>() < p {
                    raster.set(tr, t, i, true);
                }
            }
        }
    }
    raster
}
