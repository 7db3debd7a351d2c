//! Fitting fields and couplings to spike data.
//!
//! * [`ml`]: exact maximum likelihood of the kinetic Ising model (spec §3.3),
//!   N independent concave problems solved from the bit-packed raster.
//! * [`uncertainty`]: standard errors (observed Fisher information) and
//!   the significance of every coupling (z, p, Benjamini–Hochberg).
//! * [`check`]: hold-out that respects trials, the model check started
//!   from the data, the per-unit log-likelihood gain over the independent
//!   model, and warnings for failed fits.
//! * [`cv`]: the L2 penalty chosen by k-fold cross-validation.
//! * [`surrogate`]: refits on data with the couplings destroyed (trial
//!   shuffle) and split-half reliability of the couplings.
//! * The moment-matching inverse problems of the mean-field methods live in
//!   [`crate::meanfield::inverse`].

pub mod check;
pub mod cv;
pub mod ml;
pub mod surrogate;
pub mod uncertainty;

pub use ml::{MlEstimate, MlFit, ValidMlFit};
pub use uncertainty::{Significance, StandardErrors, significance, standard_errors};
