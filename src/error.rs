//! The library's one error type.
//!
//! Every message says what was wrong and, where it helps, what to do about it.
//! Binaries wrap these with `anyhow` context that names the file involved.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the numerical library and the loaders.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying OS error.
        source: std::io::Error,
    },

    /// A file was read but its content is not what the format requires.
    #[error("{path}: {problem}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong, in words a user can act on.
        problem: String,
    },

    /// Arrays whose sizes must agree do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// Which quantity (e.g. "couplings J").
        what: String,
        /// The expected shape, in words (e.g. "64 x 64").
        expected: String,
        /// The shape found.
        got: String,
    },

    /// A value is NaN or infinite where a finite number is needed.
    #[error("{what} contains a non-finite value (NaN or infinity) at {location}")]
    NonFinite {
        /// Which quantity.
        what: String,
        /// Where, e.g. "row 3, column 7".
        location: String,
    },

    /// A parameter is out of its allowed range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name as the user knows it (e.g. "beta").
        name: String,
        /// Its value, formatted.
        value: String,
        /// Why it is not allowed and what is.
        reason: String,
    },

    /// The data are empty or too short for the requested analysis.
    #[error("not enough data: {0}")]
    NotEnoughData(String),

    /// An iterative method produced non-finite or out-of-range values.
    #[error("{method} diverged at step {step}: {reason}")]
    Diverged {
        /// The method's name.
        method: String,
        /// The (1-based) step or iteration at which it was detected.
        step: usize,
        /// What was detected.
        reason: String,
    },

    /// An output would replace one of the run's inputs.
    #[error("{path}: refusing to write over an input ({input}); choose another output path")]
    OverwritesInput {
        /// The output path asked for.
        path: PathBuf,
        /// The input it names (canonical path).
        input: PathBuf,
    },

    /// A buffer whose size a file or an argument decides would not fit in
    /// memory (or is larger than the file can hold).
    #[error("{what} needs {needed}, but {available}; {hint}")]
    TooLarge {
        /// The file or argument and the buffer, e.g. "raster of x.csv".
        what: String,
        /// The size needed, in words (e.g. "12.0 GiB").
        needed: String,
        /// What is available, in words.
        available: String,
        /// How to need less (a larger bin, fewer units, `--stop`, ...).
        hint: String,
    },

    /// The work was cancelled through a [`crate::progress::StopToken`].
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Shorthand for a [`Error::Format`] error.
    pub fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// Shorthand for an [`Error::Io`] error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for an [`Error::InvalidParameter`] error.
    pub fn param(name: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an [`Error::Shape`] error.
    pub fn shape(
        what: impl Into<String>,
        expected: impl std::fmt::Display,
        got: impl std::fmt::Display,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}
