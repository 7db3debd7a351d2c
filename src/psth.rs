//! Trial-aligned analysis: the table of trials (event times and every
//! column of the intervals table they came from), peri-stimulus time
//! histograms (PSTHs) and grouping of trials by a condition column.
//!
//! ## Definitions
//!
//! The raster is binary, `x[r][t][i] ∈ {0, 1}` (trial `r`, bin `t`, unit
//! `i`), with bins of `w` seconds; bin `t` of every trial covers
//! `[−pre + t·w, −pre + (t+1)·w)` seconds relative to that trial's event.
//! For a set `S` of `R = |S|` trials:
//!
//! * unit PSTH, Hz: `rate[i][t] = (1/R) Σ_{r∈S} x[r][t][i] / w`;
//! * population PSTH, Hz per unit: `p_r(t) = (1/N) Σ_i x[r][t][i] / w` for
//!   each trial, then its mean over trials `P(t) = (1/R) Σ_r p_r(t)` (which
//!   equals the mean of the unit PSTHs) and its standard error across
//!   trials `se(t) = sd_r(p_r(t)) / √R` (sample sd, denominator `R − 1`;
//!   undefined, NaN, for `R < 2`).
//!
//! Binary bins count several spikes of a unit in one bin once, so a rate
//! here is "active bins per second"; a smaller bin makes it the spike rate.
//!
//! Cost: one pass over the active bits of the chosen trials,
//! `O(R·T·⌈N/64⌉ + active bins)`.

use std::io::Write;

use crate::io::{IntervalColumn, IntervalTable};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// The trials of an aligned raster: trial `r` of the raster is row `r`
/// here.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TrialTable {
    /// Event (alignment) time of each trial, seconds from the recording's
    /// start; bin 0 of trial `r` starts at `event_s[r] − pre_s`.
    pub event_s: Vec<f64>,
    /// Seconds of each trial window before its event (≥ 0).
    pub pre_s: f64,
    /// Every column of the source table, one value per trial, as text
    /// (e.g. `stop`, `tags`, `stimulus`).
    pub columns: Vec<IntervalColumn>,
}

/// The trials sharing one value of a condition column.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The column's value.
    pub value: String,
    /// Trials (raster trial indices, ascending) with that value.
    pub trials: Vec<usize>,
}

impl TrialTable {
    /// Trials from the rows of an intervals table aligned to their start
    /// times: the columns are `stop` (seconds), `tags` (when any row has
    /// one) and every other column of the table, in the table's order.
    pub fn from_intervals(table: &IntervalTable, pre_s: f64) -> Self {
        let mut columns = vec![IntervalColumn {
            name: "stop".into(),
            values: table.stop.iter().map(f64::to_string).collect(),
        }];
        if table.labels.iter().any(|l| !l.is_empty()) {
            columns.push(IntervalColumn {
                name: "tags".into(),
                values: table.labels.clone(),
            });
        }
        columns.extend(table.columns.iter().cloned());
        Self {
            event_s: table.start.clone(),
            pre_s,
            columns,
        }
    }

    /// Number of trials.
    pub fn len(&self) -> usize {
        self.event_s.len()
    }

    /// Whether there are no trials.
    pub fn is_empty(&self) -> bool {
        self.event_s.is_empty()
    }

    /// The column called `name` (exact match).
    pub fn column(&self, name: &str) -> Option<&IntervalColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Column names, in table order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Group the trials by the values of `column`: one [`Condition`] per
    /// distinct value, ordered numerically when every value is a number,
    /// else as text.
    pub fn conditions(&self, column: &str) -> Result<Vec<Condition>> {
        let col = self.column(column).ok_or_else(|| {
            Error::param(
                "condition column",
                column,
                format!(
                    "the trials have the columns {}",
                    self.column_names().join(", ")
                ),
            )
        })?;
        let mut out: Vec<Condition> = Vec::new();
        for (r, v) in col.values.iter().enumerate() {
            match out.iter_mut().find(|c| &c.value == v) {
                Some(c) => c.trials.push(r),
                None => out.push(Condition {
                    value: v.clone(),
                    trials: vec![r],
                }),
            }
        }
        let numbers: Option<Vec<f64>> = out.iter().map(|c| c.value.trim().parse().ok()).collect();
        match numbers {
            Some(_) => out.sort_by(|a, b| {
                let x: f64 = a.value.trim().parse().unwrap_or(f64::NAN);
                let y: f64 = b.value.trim().parse().unwrap_or(f64::NAN);
                x.total_cmp(&y)
            }),
            None => out.sort_by(|a, b| a.value.cmp(&b.value)),
        }
        Ok(out)
    }

    /// Trials whose `column` equals `value` (ascending indices).
    pub fn trials_where(&self, column: &str, value: &str) -> Result<Vec<usize>> {
        let groups = self.conditions(column)?;
        groups
            .into_iter()
            .find(|c| c.value == value)
            .map(|c| c.trials)
            .ok_or_else(|| {
                Error::param(
                    "condition value",
                    value,
                    format!("no trial has {column} = {value}"),
                )
            })
    }

    /// Write the table as CSV: header `trial,start,<every column>`, one row
    /// per trial (`trial` is the raster's trial index from 0, `start` the
    /// event time in seconds). Fields holding a comma, quote or line break
    /// are quoted (RFC 4180).
    pub fn write_csv(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let mut header = vec!["trial".to_string(), "start".to_string()];
        header.extend(self.columns.iter().map(|c| c.name.clone()));
        writeln!(w, "{}", csv_row(&header))?;
        for (r, e) in self.event_s.iter().enumerate() {
            let mut row = vec![r.to_string(), e.to_string()];
            row.extend(
                self.columns
                    .iter()
                    .map(|c| c.values.get(r).cloned().unwrap_or_default()),
            );
            writeln!(w, "{}", csv_row(&row))?;
        }
        Ok(())
    }
}

fn csv_row(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Trial-averaged rates of a set of trials (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Psth {
    /// Units `N`.
    pub n_units: usize,
    /// Bins `T` per trial.
    pub n_bins: usize,
    /// Bin width `w`, seconds.
    pub bin_s: f64,
    /// Seconds before the event in each window (bin 0 starts at `−pre_s`).
    pub pre_s: f64,
    /// Trials averaged, `R`.
    pub n_trials: usize,
    /// Unit PSTH, Hz, `[unit i][bin t]` at `i * n_bins + t`.
    pub rate_hz: Vec<f64>,
    /// Population PSTH `P(t)`, Hz per unit.
    pub population_hz: Vec<f64>,
    /// Standard error of `P(t)` across trials, Hz (NaN for `R < 2`).
    pub population_se_hz: Vec<f64>,
}

/// The PSTH of `trials` (raster trial indices; repeats count twice) of a
/// raster with bins of `bin_s` seconds whose windows start `pre_s` before
/// their events.
///
/// ```
/// use isingscope::psth::compute_psth;
/// use isingscope::spikes::SpikeRaster;
/// // 2 trials × 2 bins × 1 unit: active in bin 0 of trial 0 only.
/// let x = SpikeRaster::from_binary(2, 2, 1, &[1, 0, 0, 0])?;
/// let p = compute_psth(&x, 0.01, 0.0, &[0, 1])?;
/// assert_eq!(p.rate(0, 0), 50.0); // (1 + 0) / 2 trials / 0.01 s
/// # Ok::<(), isingscope::Error>(())
/// ```
pub fn compute_psth(
    raster: &SpikeRaster,
    bin_s: f64,
    pre_s: f64,
    trials: &[usize],
) -> Result<Psth> {
    if !(bin_s.is_finite() && bin_s > 0.0) {
        return Err(Error::param("bin width", bin_s, "must be positive seconds"));
    }
    if trials.is_empty() {
        return Err(Error::NotEnoughData(
            "no trials to average for a PSTH; choose another condition".into(),
        ));
    }
    let (n_trials, n_bins, n_units) = raster.shape();
    if let Some(&r) = trials.iter().find(|&&r| r >= n_trials) {
        return Err(Error::param(
            "trial",
            r,
            format!("the raster has {n_trials} trials"),
        ));
    }
    let mut counts = vec![0u64; n_units * n_bins];
    let mut pop_sum = vec![0.0; n_bins];
    let mut pop_sq = vec![0.0; n_bins];
    let per_unit = if n_units > 0 {
        1.0 / (n_units as f64 * bin_s)
    } else {
        0.0
    };
    for &r in trials {
        for t in 0..n_bins {
            let mut k = 0u64;
            for i in raster.active_units(r, t) {
                counts[i * n_bins + t] += 1;
                k += 1;
            }
            let p = k as f64 * per_unit;
            pop_sum[t] += p;
            pop_sq[t] += p * p;
        }
    }
    let rr = trials.len() as f64;
    let rate_hz = counts.iter().map(|&c| c as f64 / (rr * bin_s)).collect();
    let population_hz: Vec<f64> = pop_sum.iter().map(|s| s / rr).collect();
    let population_se_hz = pop_sq
        .iter()
        .zip(&population_hz)
        .map(|(&sq, &m)| {
            if trials.len() < 2 {
                f64::NAN
            } else {
                let var = ((sq - rr * m * m) / (rr - 1.0)).max(0.0);
                (var / rr).sqrt()
            }
        })
        .collect();
    Ok(Psth {
        n_units,
        n_bins,
        bin_s,
        pre_s,
        n_trials: trials.len(),
        rate_hz,
        population_hz,
        population_se_hz,
    })
}

impl Psth {
    /// Rate of unit `i` in bin `t`, Hz (0 outside the table).
    pub fn rate(&self, i: usize, t: usize) -> f64 {
        if t >= self.n_bins {
            return 0.0;
        }
        self.rate_hz
            .get(i * self.n_bins + t)
            .copied()
            .unwrap_or(0.0)
    }

    /// Unit `i`'s PSTH over all bins, Hz.
    pub fn unit(&self, i: usize) -> &[f64] {
        self.rate_hz
            .get(i * self.n_bins..(i + 1) * self.n_bins)
            .unwrap_or(&[])
    }

    /// Start of bin `t` relative to the event, seconds.
    pub fn bin_start(&self, t: usize) -> f64 {
        -self.pre_s + t as f64 * self.bin_s
    }

    /// Largest unit rate, Hz (0 when empty): the heatmap's colour scale.
    pub fn max_rate(&self) -> f64 {
        self.rate_hz.iter().copied().fold(0.0, f64::max)
    }

    /// Units ordered by the bin of their peak rate (earliest first; ties
    /// keep unit order); units that never fire go last.
    pub fn order_by_peak(&self) -> Vec<usize> {
        let key = |i: usize| {
            let u = self.unit(i);
            let max = u.iter().copied().fold(0.0, f64::max);
            if max <= 0.0 {
                usize::MAX
            } else {
                u.iter().position(|&v| v == max).unwrap_or(usize::MAX)
            }
        };
        let mut order: Vec<usize> = (0..self.n_units).collect();
        order.sort_by_key(|&i| key(i));
        order
    }

    /// Response latency of unit `i`, seconds after the event: the start of
    /// the first bin at or after the event whose rate reaches half-way
    /// from the unit's baseline (mean rate before the event; 0 without
    /// pre-event bins) to its peak after the event. None when the unit's
    /// post-event peak does not exceed its baseline.
    pub fn latency(&self, i: usize) -> Option<f64> {
        let u = self.unit(i);
        // First bin whose start is at or after the event (half a bin of
        // slack for rounding of pre / w).
        let first = ((self.pre_s / self.bin_s) - 0.5).ceil().max(0.0) as usize;
        let (before, after) = u.split_at(first.min(u.len()));
        let baseline = if before.is_empty() {
            0.0
        } else {
            before.iter().sum::<f64>() / before.len() as f64
        };
        let peak = after.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if peak <= baseline {
            return None;
        }
        let half = baseline + 0.5 * (peak - baseline);
        after
            .iter()
            .position(|&v| v >= half)
            .map(|k| self.bin_start(first + k))
    }

    /// Units ordered by [`Psth::latency`] (earliest first; ties keep unit
    /// order); units without a response go last.
    pub fn order_by_latency(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.n_units).collect();
        let lat: Vec<f64> = (0..self.n_units)
            .map(|i| self.latency(i).unwrap_or(f64::INFINITY))
            .collect();
        order.sort_by(|&a, &b| lat[a].total_cmp(&lat[b]));
        order
    }
}

/// The raster restricted to `trials` (in that order), e.g. the trials of
/// one condition for a fit.
pub fn select_trials(raster: &SpikeRaster, trials: &[usize]) -> Result<SpikeRaster> {
    let (n_trials, n_bins, n_units) = raster.shape();
    if let Some(&r) = trials.iter().find(|&&r| r >= n_trials) {
        return Err(Error::param(
            "trial",
            r,
            format!("the raster has {n_trials} trials"),
        ));
    }
    let mut out = SpikeRaster::zeros(trials.len(), n_bins, n_units)?;
    for (k, &r) in trials.iter().enumerate() {
        out.trial_words_mut(k)
            .copy_from_slice(raster.trial_words(r));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TrialTable {
        TrialTable {
            event_s: vec![1.0, 2.0, 3.0, 4.0],
            pre_s: 0.0,
            columns: vec![IntervalColumn {
                name: "contrast".into(),
                values: vec!["10".into(), "2".into(), "10".into(), "2.5".into()],
            }],
        }
    }

    #[test]
    fn numeric_conditions_sort_as_numbers_and_unknown_names_are_errors() {
        let t = table();
        let c = t.conditions("contrast").unwrap();
        let values: Vec<&str> = c.iter().map(|c| c.value.as_str()).collect();
        // As text "10" < "2"; as numbers 2 < 2.5 < 10.
        assert_eq!(values, vec!["2", "2.5", "10"]);
        assert_eq!(c[2].trials, vec![0, 2]);
        assert_eq!(t.trials_where("contrast", "2").unwrap(), vec![1]);
        let e = t.conditions("stimulus").unwrap_err().to_string();
        assert!(e.contains("contrast"), "{e}");
        assert!(t.trials_where("contrast", "7").is_err());
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        let mut t = table();
        t.columns[0].values[0] = "a,\"b\"".into();
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "trial,start,contrast");
        assert_eq!(lines[1], "0,1,\"a,\"\"b\"\"\"");
        assert_eq!(lines[4], "3,4,2.5");
    }

    #[test]
    fn latency_and_peak_orders() {
        // 1 trial, 4 bins of 0.1 s, pre = 0.2 s (bins 2 and 3 after the
        // event), 3 units: unit 0 responds in bin 3, unit 1 in bin 2,
        // unit 2 is silent.
        let x = SpikeRaster::from_binary(1, 4, 3, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0]).unwrap();
        let p = compute_psth(&x, 0.1, 0.2, &[0]).unwrap();
        assert_eq!(p.order_by_peak(), vec![1, 0, 2]);
        assert_eq!(p.order_by_latency(), vec![1, 0, 2]);
        assert!((p.latency(1).unwrap() - 0.0).abs() < 1e-12);
        assert!((p.latency(0).unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(p.latency(2), None);
        assert!(p.population_se_hz[0].is_nan(), "one trial: no s.e.");
    }

    #[test]
    fn bad_trials_are_errors() {
        let x = SpikeRaster::zeros(2, 3, 1).unwrap();
        assert!(compute_psth(&x, 0.01, 0.0, &[]).is_err());
        assert!(compute_psth(&x, 0.01, 0.0, &[2]).is_err());
        assert!(compute_psth(&x, 0.0, 0.0, &[0]).is_err());
        assert!(select_trials(&x, &[5]).is_err());
        assert_eq!(select_trials(&x, &[1, 1]).unwrap().n_trials(), 2);
    }
}
