//! Stationary solutions over a 2-D parameter grid (phase-diagram heatmaps),
//! computed in parallel: rows are distributed over the rayon threads, and
//! along a row each point starts from its left neighbour's solution.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::stationary::{Workspace, solve_with};
use super::{SkPoint, SkQuantity, SkStationary};
use crate::progress::{Progress, StopToken};
use crate::{Error, Result};

/// A parameter of [`SkPoint`] that a grid axis can vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SkParameter {
    /// Inverse temperature β.
    Beta,
    /// Mean coupling J0.
    J0,
    /// Coupling spread ΔJ.
    Dj,
    /// Field half-width H0.
    H0,
}

impl SkParameter {
    /// `point` with this parameter set to `value`.
    pub fn set(self, point: &SkPoint, value: f64) -> SkPoint {
        let mut p = *point;
        match self {
            SkParameter::Beta => p.beta = value,
            SkParameter::J0 => p.j0 = value,
            SkParameter::Dj => p.dj = value,
            SkParameter::H0 => p.h0 = value,
        }
        p
    }

    /// The parameter's symbol, for axis labels.
    pub fn label(self) -> &'static str {
        match self {
            SkParameter::Beta => "β",
            SkParameter::J0 => "J0",
            SkParameter::Dj => "ΔJ",
            SkParameter::H0 => "H0",
        }
    }
}

/// One axis of a grid: which parameter and its values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GridAxis {
    /// The parameter varied along this axis.
    pub parameter: SkParameter,
    /// Its values, in order.
    pub values: Vec<f64>,
}

impl GridAxis {
    /// `points` equally spaced values from `from` to `to` inclusive (a
    /// single point is `from`). Errors for `points = 0` or non-finite ends.
    pub fn linspace(parameter: SkParameter, from: f64, to: f64, points: usize) -> Result<Self> {
        if points == 0 {
            return Err(Error::param(
                "points",
                points,
                "need at least one grid point",
            ));
        }
        if !from.is_finite() || !to.is_finite() {
            return Err(Error::param(
                parameter.label(),
                format!("{from} .. {to}"),
                "the range must be finite",
            ));
        }
        let values = (0..points)
            .map(|i| {
                if points == 1 {
                    from
                } else {
                    from + (to - from) * i as f64 / (points - 1) as f64
                }
            })
            .collect();
        Ok(Self { parameter, values })
    }
}

/// Stationary solutions on a grid, row-major: `points[r * cols + c]` is at
/// `rows.values[r]`, `cols.values[c]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkGrid {
    /// The slow axis (one row per value).
    pub rows: GridAxis,
    /// The fast axis (one column per value).
    pub cols: GridAxis,
    /// The solutions, `rows.values.len() × cols.values.len()`, row-major.
    pub points: Vec<SkStationary>,
}

impl SkGrid {
    /// The solution at row r, column c.
    pub fn at(&self, r: usize, c: usize) -> Option<&SkStationary> {
        let n = self.cols.values.len();
        if c >= n {
            return None;
        }
        self.points.get(r * n + c)
    }

    /// One quantity over the whole grid, row-major (for a heatmap texture).
    pub fn values(&self, quantity: SkQuantity) -> Vec<f64> {
        self.points.iter().map(|s| s.get(quantity)).collect()
    }
}

/// Solve the stationary equations at every point of `rows × cols`, the
/// other two parameters taken from `base`. Runs on the rayon pool (one row
/// per task), reports progress in rows and checks `stop` before each row
/// (returning [`Error::Cancelled`]).
///
/// Errors if both axes vary the same parameter or a grid point is invalid
/// (e.g. negative ΔJ).
///
/// ```
/// use isingscope::progress::{NoProgress, StopToken};
/// use isingscope::sk_theory::{grid, GridAxis, SkParameter, SkPoint, SkQuantity};
/// let base = SkPoint { beta: 1.0, j0: 1.0, dj: 0.5, h0: 0.0 };
/// let rows = GridAxis::linspace(SkParameter::Dj, 0.0, 1.0, 5).unwrap();
/// let cols = GridAxis::linspace(SkParameter::Beta, 0.0, 4.0, 9).unwrap();
/// let g = grid(&base, rows, cols, &NoProgress, &StopToken::new()).unwrap();
/// let sigma = g.values(SkQuantity::SigmaPerN);
/// assert_eq!(sigma.len(), 45);
/// assert_eq!(sigma[0], 0.0); // ΔJ = 0: no entropy production
/// ```
pub fn grid(
    base: &SkPoint,
    rows: GridAxis,
    cols: GridAxis,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<SkGrid> {
    if rows.parameter == cols.parameter {
        return Err(Error::param(
            "grid axes",
            rows.parameter.label(),
            "the two axes must vary different parameters",
        ));
    }
    let total = rows.values.len() as u64;
    let done = AtomicU64::new(0);
    let row_results: Vec<Result<Vec<SkStationary>>> = rows
        .values
        .par_iter()
        .map(|&rv| {
            stop.check()?;
            let row_point = rows.parameter.set(base, rv);
            let mut ws = Workspace::default();
            let mut prev: Option<SkStationary> = None;
            let mut out = Vec::with_capacity(cols.values.len());
            for &cv in &cols.values {
                let p = cols.parameter.set(&row_point, cv);
                p.validate()?;
                let s = solve_with(&p, prev.as_ref(), &mut ws)?;
                prev = Some(s);
                out.push(s);
            }
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress.report(d, total);
            Ok(out)
        })
        .collect();
    let mut points = Vec::with_capacity(rows.values.len() * cols.values.len());
    for r in row_results {
        points.extend(r?);
    }
    Ok(SkGrid { rows, cols, points })
}
