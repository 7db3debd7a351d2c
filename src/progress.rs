//! Progress, cancellation and the record every iterative method returns.
//!
//! Shared by the GUI worker, the CLI (progress bars) and the tests: a long
//! computation takes a [`StopToken`] to honour cancel requests and a
//! [`Progress`] callback to report how far it is; an iterative fit returns a
//! [`FitInfo`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cheap, clonable cancel flag. The UI (or a Ctrl-C handler) calls
/// [`StopToken::stop`]; the computation polls [`StopToken::is_stopped`] at
/// least once per iteration or per batch of steps.
#[derive(Clone, Debug, Default)]
pub struct StopToken(Arc<AtomicBool>);

impl StopToken {
    /// A fresh token, not stopped.
    pub fn new() -> Self {
        Self::default()
    }
    /// Ask the computation to stop as soon as it can.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// The flag itself, for loops that poll a plain `AtomicBool` (the live
    /// lab's `measure`).
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
    /// `Err(Error::Cancelled)` if a stop was requested; for use with `?`.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_stopped() {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Progress callback: `(done, total)` in units the caller chooses (steps,
/// iterations, trials). Must be cheap; it may be called from worker threads.
pub trait Progress: Sync {
    /// Report that `done` of `total` units are finished.
    fn report(&self, done: u64, total: u64);

    /// An iterative method's objective after iteration `iteration`
    /// (1-based), for live convergence plots. Ignored by default.
    fn objective(&self, _iteration: usize, _value: f64) {}
}

/// A progress sink that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&self, _done: u64, _total: u64) {}
}

impl<F: Fn(u64, u64) + Sync> Progress for F {
    fn report(&self, done: u64, total: u64) {
        self(done, total)
    }
}

/// Why an iterative method stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TerminationReason {
    /// The stopping criterion (tolerance) was met.
    Converged,
    /// The iteration cap was reached first.
    MaxIterations,
    /// The user cancelled.
    Cancelled,
    /// The iterates became non-finite or left their valid range.
    Diverged,
}

impl std::fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            TerminationReason::Converged => "converged",
            TerminationReason::MaxIterations => "reached the iteration cap",
            TerminationReason::Cancelled => "cancelled",
            TerminationReason::Diverged => "diverged",
        };
        f.write_str(s)
    }
}

/// What an iterative method did: the objective (or error) after each
/// iteration, how many iterations ran and why it stopped. The GUI plots
/// `objective`; the CLI writes it as `fit_info.csv`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitInfo {
    /// What `objective` measures, e.g. "log-likelihood per bin" or
    /// "mean squared moment error"; used as a plot label and CSV header.
    pub objective_name: String,
    /// One value per iteration, in order.
    pub objective: Vec<f64>,
    /// Number of iterations run.
    pub iterations: usize,
    /// Why the method stopped.
    pub reason: TerminationReason,
}

impl FitInfo {
    /// An empty record for an objective with the given name.
    pub fn new(objective_name: impl Into<String>) -> Self {
        Self {
            objective_name: objective_name.into(),
            objective: Vec::new(),
            iterations: 0,
            reason: TerminationReason::MaxIterations,
        }
    }
}
