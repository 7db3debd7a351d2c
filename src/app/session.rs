//! Sessions: what to reload and how to show it, saved as RON.
//!
//! A session stores the data file's path and binning, selections, fit
//! settings and view state — not the data. Opening a session whose data
//! file is missing shows a message and keeps everything else.

use std::path::{Path, PathBuf};

use super::Tab;
use super::data_tab::LoadRequest;
use super::fit_tab::FitSettings;
use super::raster_tab::RasterViewState;

/// Everything a session file holds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Session {
    /// The data file (None for generated data).
    pub data_path: Option<PathBuf>,
    /// How the data were loaded and binned.
    pub load: Option<LoadRequest>,
    /// The tab that was open.
    pub tab: Tab,
    /// Fit settings.
    pub fit: FitSettings,
    /// Raster view (trial, zoom window).
    pub raster: RasterViewState,
    /// Coupling heatmap threshold.
    pub couplings_threshold: f64,
    /// Unit display order.
    pub order: Vec<usize>,
    /// Phase lab sliders, seed and sweep settings.
    pub phase_lab: super::phase_lab::PhaseLabSettings,
    /// The fitted model, restored when the data load again.
    pub fitted: Option<SavedFit>,
    /// Mean-field lab network and sweep settings.
    pub meanfield_lab: super::meanfield_lab::LabSettings,
    /// Presentation mode (large fonts, thick lines) was on.
    pub presentation: bool,
    /// The plot shown over the whole window, if any (its id, e.g.
    /// `lab_mq`; an unknown id shows nothing enlarged).
    pub enlarged_plot: Option<String>,
    /// The settings `fitted` was fitted with (its hold-out split), so its
    /// checks are recomputed as they were; None for an opened fit folder.
    pub fitted_settings: Option<FitSettings>,
    /// The unit table's sort.
    pub data_view: super::data_tab::DataViewState,
    /// The Couplings tab's view choices.
    pub couplings_view: super::couplings_tab::CouplingsViewState,
    /// The State space tab's settings.
    pub state_space: super::state_space_tab::StateSpaceViewState,
    /// PSTH view: grouping column, unit order, unit shown.
    pub psth: super::psth_tab::PsthViewState,
    /// The condition filter of the PSTH, Fit and State space tabs.
    pub condition: super::dataset::ConditionFilter,
}

/// A fitted model as a session stores it (effective parameters).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedFit {
    /// How it was fitted.
    pub method: String,
    /// Fields, length N.
    pub h: Vec<f64>,
    /// Couplings, row-major N × N (row i = receiving neuron).
    pub j: Vec<f64>,
    /// The convergence record.
    pub info: crate::progress::FitInfo,
}

impl SavedFit {
    /// Store a fit.
    pub fn from_fit(f: &super::dataset::FittedModel) -> Self {
        let n = f.h.len();
        Self {
            method: f.method.clone(),
            h: f.h.iter().copied().collect(),
            j: (0..n)
                .flat_map(|i| (0..n).map(move |k| (i, k)))
                .map(|(i, k)| f.j[(i, k)])
                .collect(),
            info: f.info.clone(),
        }
    }

    /// Rebuild the fit for a dataset of `n` units (None if the sizes differ).
    pub fn to_fit(&self, n: usize) -> Option<super::dataset::FittedModel> {
        if self.h.len() != n || self.j.len() != n * n {
            return None;
        }
        Some(super::dataset::FittedModel {
            method: self.method.clone(),
            h: nalgebra::DVector::from_column_slice(&self.h),
            j: nalgebra::DMatrix::from_row_slice(n, n, &self.j),
            info: self.info.clone(),
            generation: 0,
            check: None,
        })
    }
}

impl Default for Session {
    fn default() -> Self {
        Self {
            data_path: None,
            load: None,
            tab: Tab::Data,
            fit: FitSettings::default(),
            raster: RasterViewState::default(),
            couplings_threshold: 0.0,
            order: Vec::new(),
            phase_lab: Default::default(),
            fitted: None,
            meanfield_lab: Default::default(),
            presentation: false,
            enlarged_plot: None,
            fitted_settings: None,
            data_view: Default::default(),
            couplings_view: Default::default(),
            state_space: Default::default(),
            psth: Default::default(),
            condition: Default::default(),
        }
    }
}

impl Session {
    /// Write as pretty RON, atomically (temporary file + rename, never over
    /// an input: [`crate::io::output`]). The error names the file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .map_err(|e| format!("{}: cannot encode the session: {e}", path.display()))?;
        crate::io::output::write_bytes(path, text.as_bytes()).map_err(|e| e.to_string())
    }

    /// Read a session file. The error names the file and the problem.
    pub fn load(path: &Path) -> Result<Self, String> {
        Self::load_validated(path).map(|(s, _)| s)
    }

    /// Read a session file and check it field by field: a value out of its
    /// range (non-finite numbers, an absurd network size, an order that is
    /// not a permutation, a fit whose sizes disagree) is replaced by its
    /// default and named in the returned list, so a damaged or hand-edited
    /// session never reaches the app unchecked.
    pub fn load_validated(path: &Path) -> Result<(Self, Vec<String>), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut s: Self = ron::from_str(&text).map_err(|e| {
            format!(
                "{}: not a valid isingscope session: {}",
                path.display(),
                e.to_string().replace('\n', " ")
            )
        })?;
        let dropped = s.validate();
        Ok((s, dropped))
    }

    /// Reset every out-of-range field to its default; returns what was reset.
    fn validate(&mut self) -> Vec<String> {
        let mut dropped = Vec::new();
        let finite_in = |v: f64, lo: f64, hi: f64| v.is_finite() && (lo..=hi).contains(&v);
        let defaults = Self::default();
        if !finite_in(self.couplings_threshold, 0.0, f64::MAX) {
            dropped.push(format!(
                "coupling threshold {} (reset to 0)",
                self.couplings_threshold
            ));
            self.couplings_threshold = defaults.couplings_threshold;
        }
        if !finite_in(self.fit.l2, 0.0, f64::MAX) {
            dropped.push(format!("fit L2 penalty {} (reset to 0)", self.fit.l2));
            self.fit.l2 = defaults.fit.l2;
        }
        let r = &self.raster;
        if !finite_in(r.start, 0.0, f64::MAX) || !finite_in(r.len, 0.0, f64::MAX) {
            dropped.push("raster view window (reset)".into());
            self.raster = defaults.raster.clone();
        }
        // PSTH view and condition filter: a value needs its column, names
        // are short single lines; whether the column exists is checked
        // against the trials when the data have loaded.
        let line_ok = |s: &str| s.len() <= 200 && !s.contains(['\n', '\r']);
        let c = &self.condition;
        if (c.column.is_empty() && !c.value.is_empty()) || !line_ok(&c.column) || !line_ok(&c.value)
        {
            dropped.push("condition filter (reset to all trials)".into());
            self.condition = defaults.condition.clone();
        }
        if !line_ok(&self.psth.group_by) || self.psth.unit > 1_000_000 {
            dropped.push("PSTH view (reset)".into());
            self.psth = defaults.psth.clone();
        }
        let mut sorted = self.order.clone();
        sorted.sort_unstable();
        if sorted.iter().enumerate().any(|(k, &i)| k != i) {
            dropped.push("unit order (not a permutation; reset)".into());
            self.order.clear();
        }
        // Phase lab: the ranges of its controls.
        let pl = &mut self.phase_lab;
        let dpl = defaults.phase_lab;
        let mut check = |name: &str, ok: bool| {
            if !ok {
                dropped.push(format!("phase lab {name} (reset)"));
            }
            ok
        };
        if !check(&format!("N = {}", pl.n), (16..=4096).contains(&pl.n)) {
            pl.n = dpl.n;
        }
        if !check("J0", finite_in(pl.j0, -0.5, 2.5)) {
            pl.j0 = dpl.j0;
        }
        if !check("DJ", finite_in(pl.dj, 0.0, 1.5)) {
            pl.dj = dpl.dj;
        }
        if !check("H0", finite_in(pl.h0, 0.0, 1.5)) {
            pl.h0 = dpl.h0;
        }
        if !check("beta", finite_in(pl.beta, 0.0, 4.0)) {
            pl.beta = dpl.beta;
        }
        if !check(
            "sweep range",
            pl.sweep_from.is_finite() && pl.sweep_to.is_finite(),
        ) {
            pl.sweep_from = dpl.sweep_from;
            pl.sweep_to = dpl.sweep_to;
        }
        if !check(
            &format!("sweep points {}", pl.sweep_points),
            (2..=200).contains(&pl.sweep_points),
        ) {
            pl.sweep_points = dpl.sweep_points;
        }
        if !check(
            &format!("sweep networks per point {}", pl.sweep_reps),
            (2..=100).contains(&pl.sweep_reps),
        ) {
            pl.sweep_reps = dpl.sweep_reps;
        }
        if let Some(req) = &self.load {
            let ok = finite_in(req.bin_ms, 1e-6, 1e9)
                && req.start_s.is_none_or(|t| finite_in(t, -4.6e9, 4.6e9))
                && req.stop_s.is_none_or(|t| finite_in(t, -4.6e9, 4.6e9))
                && finite_in(req.min_rate_hz, 0.0, f64::MAX)
                && finite_in(req.pre_s, 0.0, 4.6e9)
                && finite_in(req.post_s, 0.0, 4.6e9);
            if !ok {
                dropped.push("data loading settings (bin width, window or rates out of range; open the file again)".into());
                self.load = None;
            }
        }
        if let Some(f) = &self.fitted {
            let n = f.h.len();
            let ok = n > 0
                && n.checked_mul(n) == Some(f.j.len())
                && f.h.iter().chain(&f.j).all(|v| v.is_finite());
            if !ok {
                dropped.push(format!(
                    "fitted model ({} fields, {} couplings, or non-finite values)",
                    f.h.len(),
                    f.j.len()
                ));
                self.fitted = None;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.ron");
        let s = Session {
            data_path: Some("/data/x.nwb".into()),
            tab: Tab::Couplings,
            couplings_threshold: 0.25,
            order: vec![2, 0, 1],
            ..Default::default()
        };
        s.save(&p).unwrap();
        assert_eq!(Session::load(&p).unwrap(), s);
        std::fs::write(&p, "(garbage").unwrap();
        let e = Session::load(&p).unwrap_err();
        assert!(e.contains("s.ron") && e.contains("not a valid"), "{e}");
        assert!(
            Session::load(&dir.path().join("none.ron"))
                .unwrap_err()
                .contains("none.ron")
        );
    }

    #[test]
    fn psth_view_and_condition_filter_round_trip_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("psth.ron");
        let mut s = Session {
            tab: Tab::Psth,
            ..Default::default()
        };
        s.psth.group_by = "stimulus".into();
        s.psth.order = super::super::psth_tab::PsthOrder::Latency;
        s.psth.unit = 7;
        s.condition.column = "contrast".into();
        s.condition.value = "0.25".into();
        s.save(&p).unwrap();
        let (back, dropped) = Session::load_validated(&p).unwrap();
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(back, s);
        // A value without its column, and a column name that is not one
        // line, are reset and named.
        s.condition.column.clear();
        s.psth.group_by = "a\nb".into();
        s.save(&p).unwrap();
        let (back, dropped) = Session::load_validated(&p).unwrap();
        let text = dropped.join("; ");
        assert!(
            text.contains("condition filter") && text.contains("PSTH view"),
            "{text}"
        );
        assert_eq!(back.condition, Default::default());
        assert_eq!(back.psth, Default::default());
    }

    #[test]
    fn out_of_range_fields_are_reset_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.ron");
        let mut s = Session {
            couplings_threshold: 0.5,
            order: vec![0, 0, 5],
            fitted: Some(SavedFit {
                method: "ml".into(),
                h: vec![0.1, f64::NAN],
                j: vec![0.0; 4],
                info: crate::progress::FitInfo::new("objective"),
            }),
            ..Default::default()
        };
        s.phase_lab.n = 1_000_000_000;
        s.phase_lab.sweep_points = 0;
        s.phase_lab.beta = f64::INFINITY;
        s.save(&p).unwrap();
        let (back, dropped) = Session::load_validated(&p).unwrap();
        let text = dropped.join("; ");
        for needle in [
            "N = 1000000000",
            "sweep points 0",
            "beta",
            "unit order",
            "fitted model",
        ] {
            assert!(text.contains(needle), "{text}");
        }
        let d = Session::default();
        assert_eq!(back.phase_lab.n, d.phase_lab.n);
        assert_eq!(back.phase_lab.sweep_points, d.phase_lab.sweep_points);
        assert!(back.fitted.is_none() && back.order.is_empty());
        // Fields in range are kept.
        assert_eq!(back.couplings_threshold, 0.5);
        // A valid session reports nothing.
        Session::default().save(&p).unwrap();
        assert!(Session::load_validated(&p).unwrap().1.is_empty());
    }
}
