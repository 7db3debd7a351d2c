//! Drawing cost of the raster view: per-pixel aggregates of a 1,000-unit ×
//! 1,000,000-bin raster (5 % activity) for a 1,280-pixel-wide view, at full
//! zoom-out and zoomed in, as the app computes them on every pan step.
//! Target (issue 7): well under 16 ms, so panning stays at 60 frames/s.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use isingscope::activity::ActivityPyramid;
use isingscope::spikes::SpikeRaster;
use rand::{Rng, SeedableRng};

fn raster_view(c: &mut Criterion) {
    let (t, n) = (1_000_000usize, 1000usize);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    let mut raster = SpikeRaster::zeros(1, t, n).expect("fits in memory");
    // 5 % activity: draw the active entries directly.
    let active = t * n / 20;
    for _ in 0..active {
        let (b, i) = (
            (rng.next_u64() % t as u64) as usize,
            (rng.next_u64() % n as u64) as usize,
        );
        raster.set(0, b, i, true);
    }
    let mut g = c.benchmark_group("raster_view");
    g.sample_size(10);
    g.bench_function("build_pyramid_1000x1e6", |b| {
        b.iter(|| black_box(ActivityPyramid::build(&raster).total_bins()))
    });
    let pyr = ActivityPyramid::build(&raster);
    let (mut counts, mut bins) = (Vec::new(), Vec::new());
    for (name, start, end) in [
        ("full_view", 0, t),
        ("10k_bins", 400_000, 410_000),
        ("1k_bins", 400_000, 401_000),
    ] {
        g.bench_function(format!("aggregate_{name}_1280px"), |b| {
            b.iter(|| {
                pyr.aggregate(&raster, start, end, 1280, &mut counts, &mut bins);
                black_box(counts[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, raster_view);
criterion_main!(benches);
