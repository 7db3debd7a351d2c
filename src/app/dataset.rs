//! What the app has loaded and computed: model state, apart from any view
//! state. Tabs read it; only the shell replaces it (when a job finishes).

use std::path::PathBuf;
use std::sync::Arc;

use nalgebra::{DMatrix, DVector};

use crate::activity::ActivityPyramid;
use crate::model::stats::Moments;
use crate::psth::{TrialTable, select_trials};
use crate::spikes::SpikeRaster;

/// One unit (neuron) of the loaded dataset, in raster column order.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitInfo {
    /// The recording's unit id (as text: ids may be numbers or names).
    pub id: String,
    /// Quality label: good, mua, noise, or empty when unknown.
    pub label: String,
    /// Brain location, when the file gives one.
    pub location: String,
    /// Active bins in the raster (summed over trials).
    pub active_bins: u64,
    /// Spikes in the binned windows, counted from the spike times before
    /// binning (several spikes in one bin count each); for a raster file,
    /// which has no spike times, the active bins.
    pub spikes: u64,
    /// True rate in Hz: `spikes` per second of the binned windows (R·T·w).
    pub rate_hz: f64,
    /// Fraction of the unit's bins that are active (`active_bins / (R·T)`).
    pub active_fraction: f64,
}

/// Known generating parameters (simulated data only).
#[derive(Clone, Debug, PartialEq)]
pub struct GroundTruth {
    /// Raw couplings J (`[(i, j)]`: j at t−1 → i at t).
    pub j: DMatrix<f64>,
    /// Raw fields H.
    pub h: DVector<f64>,
    /// Inverse temperature β.
    pub beta: f64,
}

/// A binned dataset ready for analysis.
pub struct Dataset {
    /// Short name for the status bar.
    pub name: String,
    /// The file it came from (None for generated data).
    pub source: Option<PathBuf>,
    /// The binary raster `(R, T, N)`.
    pub raster: Arc<SpikeRaster>,
    /// Units in raster column order.
    pub units: Vec<UnitInfo>,
    /// Bin width in seconds.
    pub bin_seconds: f64,
    /// Generating parameters when the data are simulated.
    pub truth: Option<GroundTruth>,
    /// Per-pixel aggregates for the raster view.
    pub pyramid: Arc<ActivityPyramid>,
    /// Notes from loading (merged spikes, dropped units) for the Data tab.
    pub notes: Vec<String>,
    /// With trials aligned to an intervals table: each raster trial's event
    /// time and the table's columns (conditions). None for continuous data.
    pub trials: Option<TrialTable>,
}

/// The couplings of a fit of one condition's trials, kept so that two
/// conditions can be compared side by side (PSTH tab).
#[derive(Clone, Debug)]
pub struct ConditionFit {
    /// The trials fitted, e.g. "stimulus = A: 20 of 60 trials".
    pub label: String,
    /// How it was fitted, e.g. "exact ML (L2 = 0)".
    pub method: String,
    /// Fitted couplings (`[(i, j)]`: j at t−1 → i at t), effective.
    pub j: DMatrix<f64>,
    /// Changes with the content (heatmap texture key).
    pub generation: u64,
}

/// Which trials the analyses use: those whose `column` equals `value`
/// (both empty: every trial). Held in the app's model state so that the
/// PSTH, Fit and State space tabs agree; saved in sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ConditionFilter {
    /// A column of the trials table (empty: no filter).
    pub column: String,
    /// The value the trials must have in that column.
    pub value: String,
}

impl ConditionFilter {
    /// Whether the filter keeps every trial.
    pub fn is_all(&self) -> bool {
        self.column.is_empty()
    }
    /// One line for labels, e.g. "stimulus = A".
    pub fn describe(&self) -> String {
        if self.is_all() {
            "all trials".into()
        } else {
            format!("{} = {}", self.column, self.value)
        }
    }
}

impl Dataset {
    /// Build from a raster; rates and aggregates are computed here (call
    /// from a worker thread: this is O(spikes)).
    pub fn new(
        name: impl Into<String>,
        source: Option<PathBuf>,
        raster: SpikeRaster,
        ids: Vec<String>,
        labels: Vec<String>,
        locations: Vec<String>,
        bin_seconds: f64,
    ) -> Self {
        let counts = raster.unit_counts();
        let bins = (raster.n_trials() * raster.n_bins()) as f64;
        let seconds = bins * bin_seconds;
        let n = raster.n_units();
        let units = (0..n)
            .map(|i| UnitInfo {
                id: ids.get(i).cloned().unwrap_or_else(|| i.to_string()),
                label: labels.get(i).cloned().unwrap_or_default(),
                location: locations.get(i).cloned().unwrap_or_default(),
                active_bins: counts[i],
                spikes: counts[i],
                rate_hz: if seconds > 0.0 {
                    counts[i] as f64 / seconds
                } else {
                    0.0
                },
                active_fraction: if bins > 0.0 {
                    counts[i] as f64 / bins
                } else {
                    0.0
                },
            })
            .collect();
        let pyramid = Arc::new(ActivityPyramid::build(&raster));
        Self {
            name: name.into(),
            source,
            raster: Arc::new(raster),
            units,
            bin_seconds,
            truth: None,
            pyramid,
            notes: Vec::new(),
            trials: None,
        }
    }

    /// Set each unit's spike count (column order) from the spike times
    /// before binning, and its rate from it (spikes per second of the
    /// binned windows). Counts of the wrong length are ignored.
    pub fn set_spike_counts(&mut self, spikes: &[u64]) {
        if spikes.len() != self.units.len() {
            return;
        }
        let seconds = (self.raster.n_trials() * self.raster.n_bins()) as f64 * self.bin_seconds;
        for (u, &s) in self.units.iter_mut().zip(spikes) {
            u.spikes = s;
            u.rate_hz = if seconds > 0.0 {
                s as f64 / seconds
            } else {
                0.0
            };
        }
    }

    /// The raster trials `filter` keeps (ascending), or None when it keeps
    /// them all. An error (one line) when the dataset has no trials table
    /// or the column or value is not in it.
    pub fn condition_trials(&self, filter: &ConditionFilter) -> Result<Option<Vec<usize>>, String> {
        if filter.is_all() {
            return Ok(None);
        }
        let Some(table) = &self.trials else {
            return Err(format!(
                "{}: no trials table, so no condition '{}' to filter by; load with an intervals table (Data tab)",
                self.name,
                filter.describe()
            ));
        };
        table
            .trials_where(&filter.column, &filter.value)
            .map(Some)
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// The dataset restricted to `trials` (in that order), named after the
    /// condition. O(spikes) for the raster view aggregates: call from a
    /// worker thread.
    pub fn subset_trials(&self, trials: &[usize], condition: &str) -> Result<Dataset, String> {
        let raster = select_trials(&self.raster, trials).map_err(|e| e.to_string())?;
        let mut ds = Dataset::new(
            format!(
                "{} [{condition}: {} of {} trials]",
                self.name,
                trials.len(),
                self.raster.n_trials()
            ),
            self.source.clone(),
            raster,
            self.unit_ids(),
            self.units.iter().map(|u| u.label.clone()).collect(),
            self.units.iter().map(|u| u.location.clone()).collect(),
            self.bin_seconds,
        );
        ds.truth = self.truth.clone();
        ds.trials = self.trials.as_ref().map(|t| TrialTable {
            event_s: trials
                .iter()
                .filter_map(|&r| t.event_s.get(r).copied())
                .collect(),
            pre_s: t.pre_s,
            columns: t
                .columns
                .iter()
                .map(|c| crate::io::IntervalColumn {
                    name: c.name.clone(),
                    values: trials
                        .iter()
                        .filter_map(|&r| c.values.get(r).cloned())
                        .collect(),
                })
                .collect(),
        });
        Ok(ds)
    }

    /// Unit ids in column order (for tooltips and exports).
    pub fn unit_ids(&self) -> Vec<String> {
        self.units.iter().map(|u| u.id.clone()).collect()
    }

    /// One line for the status bar: name and size.
    pub fn summary(&self) -> String {
        let (r, t, n) = self.raster.shape();
        let trials = if r > 1 {
            format!("{r} trials × ")
        } else {
            String::new()
        };
        format!(
            "{} — {trials}{t} bins × {n} units, {:.1} ms bins",
            self.name,
            self.bin_seconds * 1e3
        )
    }
}

/// A fitted kinetic Ising model (effective parameters, β = 1).
#[derive(Clone, Debug)]
pub struct FittedModel {
    /// How it was fitted, e.g. "exact ML (L2 = 0)".
    pub method: String,
    /// Fitted couplings (`[(i, j)]`: j at t−1 → i at t), effective.
    pub j: DMatrix<f64>,
    /// Fitted fields, effective.
    pub h: DVector<f64>,
    /// Convergence record.
    pub info: crate::progress::FitInfo,
    /// Bumped whenever the result changes (heatmap texture key).
    pub generation: u64,
    /// Predicted vs observed statistics and held-out likelihood.
    pub check: Option<ModelCheck>,
}

/// Predicted vs observed statistics of a fitted model, and what the fit
/// is worth (library checks of issue 13, computed on the worker).
#[derive(Clone, Debug)]
pub struct ModelCheck {
    /// Observed moments of the data.
    pub observed: Moments,
    /// Moments of a simulation of the fitted model started from the
    /// data's own states.
    pub predicted: Moments,
    /// Sampling standard errors of the observed moments.
    pub observed_se: crate::fit::check::MomentErrors,
    /// How the simulation was started (one line).
    pub description: String,
    /// What was held out (one line).
    pub holdout: String,
    /// Whether free runs from random states end elsewhere.
    pub multistable: bool,
    /// The multistability verdict in words.
    pub multistability: String,
    /// When the data-started simulation does not reproduce the data's
    /// moments: why, in words (see `fit::check::ModelCheck::moments_message`).
    pub moments_mismatch: Option<String>,
    /// With trials: observed and predicted m_i(t) (N × T).
    pub m_t: Option<(DMatrix<f64>, DMatrix<f64>)>,
    /// Mean log-likelihood per bin and neuron on the training bins (nats).
    pub train_ll: f64,
    /// The same on the held-out transitions, if any.
    pub heldout_ll: Option<f64>,
    /// Per-unit gain over the independent model (held-out when available).
    pub gain: crate::fit::check::LlGain,
    /// Standard errors of J (ML only).
    pub se_j: Option<DMatrix<f64>>,
    /// Why the fit is not to be trusted, if it is not.
    pub warning: Option<String>,
    /// The cross-validation curve when L2 was chosen by CV.
    pub cv: Option<crate::fit::cv::CvResult>,
}
