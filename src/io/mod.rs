//! Reading and writing files: one submodule per format.
//!
//! * [`npy`]: NumPy `.npy` rasters (`(T, N)` or `(R, T, N)`, any integer,
//!   bool or float dtype holding 0/1 or ±1, C or Fortran order) and float
//!   arrays.
//! * [`text`]: plain CSV matrices and vectors (no header; a matrix row per
//!   line, `J.csv` row i = receiving neuron; a vector value per line).
//!
//! Every error names the file and the problem.

pub mod npy;
pub mod text;
