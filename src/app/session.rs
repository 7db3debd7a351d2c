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
        }
    }
}

impl Session {
    /// Write as pretty RON. The error names the file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .map_err(|e| format!("{}: cannot encode the session: {e}", path.display()))?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Read a session file. The error names the file and the problem.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ron::from_str(&text)
            .map_err(|e| format!("{}: not a valid isingscope session: {e}", path.display()))
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
}
