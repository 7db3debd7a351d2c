//! Steps per second the live simulation stream (the phase lab's worker)
//! delivers to a consumer that drains it every 16 ms, as the app does at
//! 60 frames per second. Target (issue 8): ≥ 1,000 steps/s at N = 1,024.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isingscope::model::SkParams;
use isingscope::model::live::{LabCommand, LabUpdate, LabWorker};

fn delivered(c: &mut Criterion) {
    let mut g = c.benchmark_group("live_stream");
    g.sample_size(10);
    for n in [1024usize, 4096] {
        let params = SkParams {
            n,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
            beta: 1.0,
        };
        let worker = LabWorker::spawn(params, 1, Arc::new(|| {}));
        worker.send(LabCommand::Play);
        let per_iter = 1000u64;
        g.throughput(Throughput::Elements(per_iter));
        g.bench_function(format!("N={n}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut got = 0u64;
                while got < per_iter * iters {
                    std::thread::sleep(Duration::from_millis(16));
                    for u in worker.drain() {
                        if let LabUpdate::Batch { stats, .. } = u {
                            got += stats.len() as u64;
                        }
                    }
                }
                start
                    .elapsed()
                    .mul_f64((per_iter * iters) as f64 / got as f64)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, delivered);
criterion_main!(benches);
