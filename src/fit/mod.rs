//! Fitting fields and couplings to spike data.
//!
//! * [`ml`]: exact maximum likelihood of the kinetic Ising model (spec §3.3),
//!   N independent concave problems solved from the bit-packed raster.
//! * The moment-matching inverse problems of the mean-field methods live in
//!   [`crate::meanfield::inverse`].

pub mod ml;

pub use ml::{MlEstimate, MlFit, ValidMlFit};
