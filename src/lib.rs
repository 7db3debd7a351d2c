//! # isingscope
//!
//! See and model large neural populations with the nonequilibrium
//! (asymmetric) kinetic Ising model.
//!
//! ## The model and its conventions
//!
//! Spins `s_i(t) ∈ {−1, +1}` (a spike is +1, silence −1) are updated
//! synchronously:
//!
//! ```text
//! h_i(t) = H_i + Σ_j J_ij s_j(t−1)
//! P(s_i(t) = +1 | s(t−1)) = (1 + tanh(β h_i(t))) / 2
//! ```
//!
//! * `J[(i, j)]`: coupling **from neuron j at t−1 to neuron i at t** (row =
//!   receiving, column = sending); asymmetric, diagonal used.
//! * β multiplies H and J before any kernel sees them ("effective"
//!   parameters); the types store raw H, J and β.
//! * Statistics: `m_i = <s_i>`, `C_ik = <s_i s_k> − m_i m_k` (equal time),
//!   `D_il = <s_i(t) s_l(t−1)> − m_i(t) m_l(t−1)` (delayed; row = later time).
//! * Entropy production σ in nats per time step.
//!
//! ## Layout
//!
//! * [`spikes`]: the bit-packed binary raster `(R trials, T bins, N units)`.
//! * [`activity`]: multi-resolution spike counts for drawing rasters.
//! * [`model`]: the network, simulation, moments, exact small-N solution,
//!   entropy production.
//! * [`io`]: loaders and writers (one file per format).
//! * [`meanfield`]: Plefka mean-field approximations, forward and inverse.
//! * [`fit`]: exact maximum-likelihood fits of H and J.
//! * [`sk_theory`]: exact large-N theory of the asymmetric SK model.
//! * [`state_space`]: time-varying fields and couplings (filter, smoother, EM).
//! * [`shard`]: per-neuron shards of the ML and state-space fits (manifest, ranges, merge checks).
//! * [`progress`]: cancel tokens, progress callbacks, `FitInfo`.
//! * [`psth`]: trials and their conditions, trial-averaged rates (PSTH).
//! * [`cli`]: the headless command line.
//! * `app` (feature `gui`): the desktop application.

pub mod activity;
pub mod cli;
pub mod error;
pub mod fit;
pub mod io;
pub mod meanfield;
pub mod model;
pub mod progress;
pub mod psth;
pub mod shard;
pub mod sk_theory;
pub mod spikes;
pub mod state_space;

#[cfg(feature = "gui")]
pub mod app;

pub use error::{Error, Result};
