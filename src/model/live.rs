//! A live simulation stream of an asymmetric SK network, on its own thread:
//! what the app's phase lab draws (this module has no GUI types).
//!
//! The thread owns the network and its [`Simulator`]. Commands come in on a
//! channel; batches of per-step statistics and states go out on a bounded
//! channel (so a slow UI slows the simulation instead of filling memory),
//! each followed by a call of `wake` (the app's `request_repaint`).
//!
//! Per-step statistics, all per spin, from the simulator's effective fields
//! `h(t) = βH + βJ s(t−1)`:
//!
//! * `m(t) = (1/N) Σ_i tanh h_i(t)` (Rao–Blackwellised magnetisation);
//! * `q(t) = (1/N) Σ_i tanh h_i(t) s_i(t−1)` (one-step self-overlap);
//! * `σ(t)/N = (1/N) Σ_il βJ_il [tanh h_i(t) s_l(t−1) − s_i(t−1) s_l(t)]`,
//!   whose mean is `Σ_il J_il (D_il − D_li)/N` at stationarity. Both sums
//!   are read off the fields: `Σ_l βJ_il s_l(t−1) = h_i(t) − βH_i` and
//!   `Σ_l βJ_il s_l(t) = h_i(t+1) − βH_i`, so σ costs O(N) per step, one step
//!   late.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nalgebra::DMatrix;
use rand::SeedableRng;

use super::simulate::{InitialState, Simulator};
use super::{KineticIsing, SkParams};

/// A repaint request callable from any thread (the GUI passes
/// `ctx.request_repaint()`; tests and benchmarks pass a no-op).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Statistics of one simulated step (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Steps since the last reset.
    pub t: u64,
    /// Magnetisation per spin.
    pub m: f64,
    /// One-step self-overlap.
    pub q: f64,
    /// Entropy production per spin of the previous step (nats).
    pub sigma_per_n: f64,
}

/// What the UI asks of the simulation thread.
#[derive(Clone, Debug)]
pub enum LabCommand {
    /// Run continuously.
    Play,
    /// Stop stepping (the network is kept).
    Pause,
    /// Take this many steps, then pause.
    Step(u64),
    /// New parameters. `redraw`: draw a new network from the ensemble;
    /// otherwise keep the drawn network and only change β (and rescale).
    SetParams {
        /// Ensemble parameters (N, J0, ΔJ, H0, β).
        params: SkParams,
        /// Seed of the network and the spikes.
        seed: u64,
        /// Draw a new network (else keep it and apply the new β).
        redraw: bool,
    },
    /// Restart from all spins +1 (same network).
    Reset,
    /// Scan a parameter and measure stationary m, q, σ/N.
    Sweep(SweepRequest),
    /// End the thread.
    Shutdown,
}

/// Which parameter a sweep scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SweepParameter {
    /// Inverse temperature.
    Beta,
    /// Coupling mean.
    J0,
}

/// A sweep: fresh networks at every point, as the paper's figure does.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRequest {
    /// The scanned parameter.
    pub parameter: SweepParameter,
    /// Its values.
    pub values: Vec<f64>,
    /// The other parameters.
    pub base: SkParams,
    /// Independent networks per point.
    pub repetitions: usize,
    /// Steps discarded before measuring.
    pub burn_in: usize,
    /// Steps averaged per repetition.
    pub steps: usize,
    /// Seed.
    pub seed: u64,
}

/// One measured sweep point: mean and standard error over repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepPoint {
    /// Parameter value.
    pub x: f64,
    /// |m| (sign-aligned per repetition): mean, standard error.
    pub m: (f64, f64),
    /// q: mean, standard error.
    pub q: (f64, f64),
    /// σ/N: mean, standard error.
    pub sigma_per_n: (f64, f64),
}

/// What the simulation thread sends back.
#[derive(Debug)]
pub enum LabUpdate {
    /// Steps taken since the last batch, with the packed states.
    Batch {
        /// Statistics per step.
        stats: Vec<StepStats>,
        /// Packed state (bit i = spin +1) after each step.
        states: Vec<Vec<u64>>,
        /// Generation of the network these steps belong to.
        network: u64,
    },
    /// A new network was drawn (or rescaled): its effective couplings.
    Network {
        /// `βJ`, `[(i, j)]`: j at t−1 → i at t.
        j_eff: Arc<DMatrix<f64>>,
        /// Generation counter.
        generation: u64,
    },
    /// One sweep point is done.
    SweepPoint(SweepPoint),
    /// The sweep finished (or was interrupted by another command).
    SweepDone,
    /// Something went wrong (invalid parameters).
    Error(String),
}

/// The UI's handle: sends commands, receives updates, joins on drop.
pub struct LabWorker {
    tx: Sender<LabCommand>,
    rx: Receiver<LabUpdate>,
    /// Set on drop; long sweeps check it every step.
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LabWorker {
    /// Start the thread with a network drawn from `params`, paused.
    pub fn spawn(params: SkParams, seed: u64, wake: Wake) -> Self {
        let (tx, cmd_rx) = std::sync::mpsc::channel();
        let (up_tx, rx) = std::sync::mpsc::sync_channel(8);
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("isingscope: phase lab".into())
            .spawn(move || {
                let mut lab = Lab::new(up_tx, wake, flag);
                lab.set_params(params, seed, true);
                lab.run(cmd_rx);
            })
            .ok();
        Self {
            tx,
            rx,
            shutdown,
            thread,
        }
    }

    /// Send a command (ignored if the thread has ended).
    pub fn send(&self, cmd: LabCommand) {
        let _ = self.tx.send(cmd);
    }

    /// All updates received so far, without blocking.
    pub fn drain(&self) -> Vec<LabUpdate> {
        self.rx.try_iter().collect()
    }
}

impl Drop for LabWorker {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        let _ = self.tx.send(LabCommand::Shutdown);
        // Unblock a send in progress by dropping our receiver first.
        let (_, dummy) = std::sync::mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.rx, dummy));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread's state.
struct Lab {
    tx: SyncSender<LabUpdate>,
    wake: Wake,
    shutdown: Arc<AtomicBool>,
    params: SkParams,
    seed: u64,
    /// The network with β = 1 (raw couplings), for "keep network" changes.
    raw: Option<KineticIsing>,
    sim: Option<Simulator>,
    h_eff: Vec<f64>,
    /// State before the last step, s(t−1).
    prev: Vec<u64>,
    /// State two steps back, s(t−2): σ of step t−1 needs it with h(t).
    prev2: Vec<u64>,
    /// `Σ_i tanh h_i(t) (h_i(t) − βH_i)` of the last step, waiting for the
    /// next step's fields to complete σ.
    pending_sigma: Option<f64>,
    t: u64,
    generation: u64,
    running: bool,
    steps_left: u64,
    alive: bool,
}

impl Lab {
    fn new(tx: SyncSender<LabUpdate>, wake: Wake, shutdown: Arc<AtomicBool>) -> Self {
        Self {
            tx,
            wake,
            shutdown,
            params: SkParams {
                n: 1,
                j0: 0.0,
                dj: 0.0,
                h0: 0.0,
                beta: 1.0,
            },
            seed: 0,
            raw: None,
            sim: None,
            h_eff: Vec::new(),
            prev: Vec::new(),
            prev2: Vec::new(),
            pending_sigma: None,
            t: 0,
            generation: 0,
            running: false,
            steps_left: 0,
            alive: true,
        }
    }

    fn send(&mut self, u: LabUpdate) {
        if self.tx.send(u).is_err() {
            self.alive = false;
        }
        (self.wake)();
    }

    fn set_params(&mut self, params: SkParams, seed: u64, redraw: bool) {
        if let Err(e) = params.validate() {
            self.send(LabUpdate::Error(e.to_string()));
            return;
        }
        let needs_new = redraw
            || self.raw.is_none()
            || seed != self.seed
            || params.n != self.params.n
            || params.j0 != self.params.j0
            || params.dj != self.params.dj
            || params.h0 != self.params.h0;
        if needs_new {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            match (SkParams {
                beta: 1.0,
                ..params
            })
            .draw(&mut rng)
            {
                Ok(m) => self.raw = Some(m),
                Err(e) => {
                    self.send(LabUpdate::Error(e.to_string()));
                    return;
                }
            }
        }
        self.params = params;
        self.seed = seed;
        self.rebuild(needs_new);
    }

    /// Rebuild the simulator at the current β, keeping the state when only
    /// β changed.
    fn rebuild(&mut self, restart: bool) {
        let Some(raw) = &self.raw else { return };
        let Ok(model) = raw.with_beta(self.params.beta) else {
            return;
        };
        let keep: Option<Vec<bool>> = (!restart)
            .then(|| self.sim.as_ref().map(|s| unpack(s.state(0), s.n())))
            .flatten();
        let init = match keep {
            Some(s) => InitialState::Given(s),
            None => InitialState::AllUp,
        };
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(
            self.seed ^ 0x9E37_79B9_7F4A_7C15 ^ self.generation,
        );
        match Simulator::new(&model, 1, &init, &mut rng) {
            Ok(sim) => {
                self.prev = sim.state(0).to_vec();
                self.prev2 = self.prev.clone();
                self.sim = Some(sim);
            }
            Err(e) => {
                self.send(LabUpdate::Error(e.to_string()));
                return;
            }
        }
        self.h_eff = model.effective_h().iter().copied().collect();
        self.pending_sigma = None;
        if restart {
            self.t = 0;
        }
        self.generation += 1;
        let j_eff = Arc::new(model.effective_j());
        let generation = self.generation;
        self.send(LabUpdate::Network { j_eff, generation });
    }

    fn run(&mut self, rx: Receiver<LabCommand>) {
        while self.alive {
            let cmd = if self.running || self.steps_left > 0 {
                match rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            if let Some(c) = cmd {
                self.handle(c, &rx);
                continue;
            }
            if self.running || self.steps_left > 0 {
                self.batch();
            }
        }
    }

    fn handle(&mut self, c: LabCommand, rx: &Receiver<LabCommand>) {
        match c {
            LabCommand::Play => self.running = true,
            LabCommand::Pause => {
                self.running = false;
                self.steps_left = 0;
            }
            LabCommand::Step(k) => {
                self.running = false;
                self.steps_left = k;
            }
            LabCommand::SetParams {
                params,
                seed,
                redraw,
            } => self.set_params(params, seed, redraw),
            LabCommand::Reset => self.rebuild(true),
            LabCommand::Sweep(req) => self.sweep(&req, rx),
            LabCommand::Shutdown => self.alive = false,
        }
    }

    /// Simulate for about 30 ms (or the requested steps) and send a batch.
    fn batch(&mut self) {
        let Some(sim) = &mut self.sim else { return };
        let n = sim.n();
        let start = Instant::now();
        let mut stats = Vec::new();
        let mut states = Vec::new();
        while start.elapsed() < Duration::from_millis(30) && stats.len() < 20_000 {
            if !self.running {
                if self.steps_left == 0 {
                    break;
                }
                self.steps_left -= 1;
            }
            sim.step();
            self.t += 1;
            let f = sim.fields(0);
            let state = sim.state(0);
            let [m, q, fwd, back] = step_sums(f, &self.h_eff, &self.prev, &self.prev2);
            // σ of the previous step (t−2 → t−1) completes with this step's
            // fields: Σ_il βJ_il s_i(t−2) s_l(t−1) = Σ_i s_i(t−2) (h_i(t) − βH_i).
            let sigma = self.pending_sigma.map(|f_prev| (f_prev - back) / n as f64);
            self.pending_sigma = Some(fwd);
            let nf = n as f64;
            stats.push(StepStats {
                t: self.t,
                m: m / nf,
                q: q / nf,
                sigma_per_n: sigma.unwrap_or(f64::NAN),
            });
            states.push(state.to_vec());
            std::mem::swap(&mut self.prev, &mut self.prev2);
            self.prev.copy_from_slice(state);
        }
        if !stats.is_empty() {
            let network = self.generation;
            self.send(LabUpdate::Batch {
                stats,
                states,
                network,
            });
        }
    }

    fn sweep(&mut self, req: &SweepRequest, rx: &Receiver<LabCommand>) {
        self.running = false;
        for (k, &x) in req.values.iter().enumerate() {
            // Any command interrupts the sweep (it is then handled).
            match rx.try_recv() {
                Ok(c) => {
                    self.send(LabUpdate::SweepDone);
                    self.handle(c, rx);
                    return;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.alive = false;
                    return;
                }
            }
            let mut p = req.base;
            match req.parameter {
                SweepParameter::Beta => p.beta = x,
                SweepParameter::J0 => p.j0 = x,
            }
            let mut reps = Vec::with_capacity(req.repetitions);
            for rep in 0..req.repetitions {
                let seed = req.seed ^ ((k as u64) << 32) ^ rep as u64;
                match measure(&p, seed, req.burn_in, req.steps, &self.shutdown) {
                    Ok(v) => reps.push(v),
                    Err(e) => {
                        self.send(LabUpdate::Error(e));
                        self.send(LabUpdate::SweepDone);
                        return;
                    }
                }
            }
            let stat = |f: fn(&[f64; 3]) -> f64| mean_se(&reps.iter().map(f).collect::<Vec<_>>());
            let point = SweepPoint {
                x,
                m: stat(|v| v[0]),
                q: stat(|v| v[1]),
                sigma_per_n: stat(|v| v[2]),
            };
            self.send(LabUpdate::SweepPoint(point));
            if !self.alive {
                return;
            }
        }
        self.send(LabUpdate::SweepDone);
    }
}

/// Mean and standard error of the mean.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// One repetition: a fresh network, `burn_in` steps from all +1, then the
/// time averages of sign-aligned m, q and σ/N over `steps` steps.
/// `abort` is checked every step; when set the repetition ends early with
/// an error.
pub fn measure(
    p: &SkParams,
    seed: u64,
    burn_in: usize,
    steps: usize,
    abort: &AtomicBool,
) -> Result<[f64; 3], String> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let model = p.draw(&mut rng).map_err(|e| e.to_string())?;
    let h_eff: Vec<f64> = model.effective_h().iter().copied().collect();
    let mut sim =
        Simulator::new(&model, 1, &InitialState::AllUp, &mut rng).map_err(|e| e.to_string())?;
    let n = sim.n();
    let aborted = || abort.load(Ordering::Relaxed);
    for _ in 0..burn_in {
        if aborted() {
            return Err("stopped".into());
        }
        sim.step();
    }
    let mut prev = sim.state(0).to_vec();
    sim.step();
    let mut prev2 = std::mem::replace(&mut prev, sim.state(0).to_vec());
    let (mut m_sum, mut q_sum, mut s_sum, mut s_count) = (0.0, 0.0, 0.0, 0usize);
    let mut pending: Option<f64> = None;
    for _ in 0..steps {
        if aborted() {
            return Err("stopped".into());
        }
        sim.step();
        let f = sim.fields(0);
        let [m, q, fwd, back] = step_sums(f, &h_eff, &prev, &prev2);
        if let Some(fp) = pending {
            s_sum += (fp - back) / n as f64;
            s_count += 1;
        }
        pending = Some(fwd);
        m_sum += m / n as f64;
        q_sum += q / n as f64;
        std::mem::swap(&mut prev, &mut prev2);
        prev.copy_from_slice(sim.state(0));
    }
    let k = steps.max(1) as f64;
    Ok([(m_sum / k).abs(), q_sum / k, s_sum / s_count.max(1) as f64])
}

/// The per-step sums of the module docs, from the fields `h(t)` (f32, as
/// the simulator keeps them), `βH`, the state `s(t−1)` (`prev`) and `s(t−2)`
/// (`prev2`): `[Σ tanh h_i, Σ tanh h_i s_i(t−1), Σ tanh h_i (h_i − βH_i),
/// Σ s_i(t−2) (h_i − βH_i)]`.
fn step_sums(fields: &[f32], h_eff: &[f64], prev: &[u64], prev2: &[u64]) -> [f64; 4] {
    let (mut m, mut q, mut fwd, mut back) = (0.0, 0.0, 0.0, 0.0);
    for (i, (&f, &hb)) in fields.iter().zip(h_eff).enumerate() {
        let h = f as f64;
        let th = h.tanh();
        let drive = h - hb;
        m += th;
        q += th * spin(prev, i);
        fwd += th * drive;
        back += spin(prev2, i) * drive;
    }
    [m, q, fwd, back]
}

#[inline]
fn spin(words: &[u64], i: usize) -> f64 {
    if (words[i / 64] >> (i % 64)) & 1 == 1 {
        1.0
    } else {
        -1.0
    }
}

fn unpack(words: &[u64], n: usize) -> Vec<bool> {
    (0..n)
        .map(|i| (words[i / 64] >> (i % 64)) & 1 == 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sk_theory::{SkPoint, solve_stationary};

    #[test]
    fn measured_sigma_matches_theory_in_the_disordered_phase() {
        // N = 512, β = 1, J0 = 0.5, ΔJ = 1 (disordered): theory σ/N and q.
        // Tolerance: 5 standard errors over 8 independent networks, plus a
        // finite-size allowance of 0.02 (O(1/√N) corrections).
        let p = SkParams {
            n: 512,
            j0: 0.5,
            dj: 1.0,
            h0: 0.0,
            beta: 1.0,
        };
        let reps: Vec<[f64; 3]> = (0..8)
            .map(|s| measure(&p, s, 100, 400, &AtomicBool::new(false)).unwrap())
            .collect();
        let th = solve_stationary(&SkPoint {
            beta: 1.0,
            j0: 0.5,
            dj: 1.0,
            h0: 0.0,
        })
        .unwrap();
        let (s, se) = mean_se(&reps.iter().map(|v| v[2]).collect::<Vec<_>>());
        assert!(
            (s - th.sigma_per_n).abs() < 5.0 * se + 0.02,
            "σ/N {s} ± {se} vs {}",
            th.sigma_per_n
        );
        let (q, qse) = mean_se(&reps.iter().map(|v| v[1]).collect::<Vec<_>>());
        assert!(
            (q - th.q).abs() < 5.0 * qse + 0.02,
            "q {q} ± {qse} vs {}",
            th.q
        );
    }

    /// The time-averaged |m| the lab streams after `steps` steps of a
    /// network already running (the first `skip` after the last network
    /// update dropped).
    fn lab_abs_m(w: &LabWorker, skip: usize, steps: usize) -> f64 {
        let mut ms: Vec<f64> = Vec::new();
        let start = std::time::Instant::now();
        while ms.len() < skip + steps {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "lab stream stalled"
            );
            for u in w.drain() {
                match u {
                    LabUpdate::Batch { stats, .. } => ms.extend(stats.iter().map(|s| s.m)),
                    // Statistics restart with every network update.
                    LabUpdate::Network { .. } => ms.clear(),
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let tail = &ms[skip..skip + steps];
        (tail.iter().sum::<f64>() / steps as f64).abs()
    }

    /// "Keep network, change β" (the live path a lecturer uses: the running
    /// network at β = 1, then β = 2 with its state kept) is the same
    /// dynamics as a fresh start of the same network at β = 2: the paired
    /// difference of the time-averaged |m| over 4 networks is within 5 of
    /// its standard errors of zero, with no allowance (same network, same
    /// β). Against the N → ∞ theory (|m| = 0.725 at β = 2, J0 = 1, ΔJ = 0.5,
    /// H0 = 0) the mean is within 5 s.e. plus a finite-size allowance of
    /// 0.02 (O(1/√N) network-to-network shifts at N = 1,024), as the sweep
    /// test allows.
    #[test]
    fn keeping_the_network_and_changing_beta_carries_no_bias() {
        let p1 = SkParams {
            n: 1024,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
            beta: 1.0,
        };
        let p2 = SkParams { beta: 2.0, ..p1 };
        let mut live = Vec::new();
        let mut diffs = Vec::new();
        for seed in 0..4u64 {
            let w = LabWorker::spawn(p1, seed, Arc::new(|| {}));
            w.send(LabCommand::Play);
            let _ = lab_abs_m(&w, 0, 300);
            w.send(LabCommand::SetParams {
                params: p2,
                seed,
                redraw: false,
            });
            let kept = lab_abs_m(&w, 200, 2000);
            let fresh = measure(&p2, seed, 200, 2000, &AtomicBool::new(false)).unwrap()[0];
            live.push(kept);
            diffs.push(kept - fresh);
        }
        let (d, dse) = mean_se(&diffs);
        assert!(
            d.abs() < 5.0 * dse.max(1e-4),
            "kept − fresh = {d} ± {dse}: {diffs:?}"
        );
        let th = solve_stationary(&SkPoint {
            beta: 2.0,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
        })
        .unwrap();
        let (m, se) = mean_se(&live);
        assert!(
            (m - th.m.abs()).abs() < 5.0 * se + 0.02,
            "live |m| {m} ± {se} vs theory {}",
            th.m
        );
    }
}
