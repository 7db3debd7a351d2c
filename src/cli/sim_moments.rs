//! `isingscope simulate --moments-only`: m(t), C(t), D(t) over trials,
//! counted while simulating, without writing (or holding) the raster.

use std::path::Path;

use rand::Rng;

use super::ensure_dir;
use super::progress_bar::CliProgress;
use crate::io::{npy, text};
use crate::model::KineticIsing;
use crate::model::moment_stream::{
    DEFAULT_CHUNK_TRIALS, KeptSteps, MomentStreamOptions, simulate_moments,
};
use crate::model::simulate::SimulationOptions;
use crate::progress::StopToken;

/// Simulate and write `DIR/m.csv` (T rows × N: row t−1 = after t steps),
/// `DIR/C.csv`, `DIR/D.csv` (final step) and, unless `final_only`,
/// `DIR/C_t.npy`, `DIR/D_t.npy` of shape (T, N, N) (index 0 = after 1 step).
pub(crate) fn write_simulated_moments<R: Rng + ?Sized>(
    model: &KineticIsing,
    sim: SimulationOptions,
    final_only: bool,
    rng: &mut R,
    out: &Path,
) -> anyhow::Result<()> {
    let steps = sim.steps;
    let opts = MomentStreamOptions {
        sim,
        kept: if final_only {
            KeptSteps::Final
        } else {
            KeptSteps::Every
        },
        chunk_trials: DEFAULT_CHUNK_TRIALS,
    };
    let bar = CliProgress::new("simulating (moments only)");
    let s = simulate_moments(model, &opts, rng, &bar, &StopToken::new())?;
    bar.finish();
    ensure_dir(out)?;
    let m_rows: Vec<Vec<f64>> = (1..=steps)
        .map(|t| s.m_at(t).iter().copied().collect())
        .collect();
    text::write_rows(&out.join("m.csv"), m_rows.iter().map(|r| r.as_slice()))?;
    let last_index = s.kept_steps().len() - 1;
    let last = s
        .moments(last_index)
        .ok_or_else(|| anyhow::anyhow!("no step was kept"))?;
    text::write_matrix(&out.join("C.csv"), &last.c)?;
    text::write_matrix(&out.join("D.csv"), &last.d)?;
    if !final_only {
        let n = s.n();
        let shape = [steps, n, n];
        for (name, pick_d) in [("C_t.npy", false), ("D_t.npy", true)] {
            npy::write_f64_streamed(&out.join(name), &shape, |push| {
                for k in 0..s.kept_steps().len() {
                    let Some(mo) = s.moments(k) else {
                        return Err(std::io::Error::other("missing step"));
                    };
                    let mat = if pick_d { &mo.d } else { &mo.c };
                    // C order: row i, then column.
                    for i in 0..n {
                        for j in 0..n {
                            push(mat[(i, j)])?;
                        }
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
