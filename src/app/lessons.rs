//! Lessons for the phase lab: a sequence of steps, each a short text and a
//! set-up that puts the lab's sliders (and, where the step needs one, a
//! sweep or a restart from all +1) where the text talks about.
//!
//! Lessons are RON files. The bundled ones live in `assets/lessons/` and are
//! embedded in the binary; a lecturer writes their own in the same format
//! (documented in `assets/lessons/README.md`) and opens it from the lessons
//! panel. A file is checked whole before it is used: unknown fields, values
//! outside the sliders' ranges and empty lessons are errors that name the
//! file and the step.

use std::path::Path;

use crate::sk_theory::SkParameter;

use super::phase_lab::{TimeView, axis_range};

/// The lessons shipped with the app: (file name, RON text).
pub const BUNDLED: [(&str, &str); 2] = [
    (
        "asymmetric-sk.ron",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/lessons/asymmetric-sk.ron"
        )),
    ),
    (
        "finite-size.ron",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/lessons/finite-size.ron"
        )),
    ),
];

/// Network sizes the lab accepts (the N slider's range).
pub const N_RANGE: std::ops::RangeInclusive<usize> = 16..=4096;

/// A lesson: a title and its steps, told in order.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Shown in the lesson picker.
    pub title: String,
    /// One or two sentences on what the lesson shows (optional).
    #[serde(default)]
    pub summary: String,
    /// The steps, at least one.
    pub steps: Vec<LessonStep>,
}

/// One step: what to read and what to set up.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonStep {
    /// A short heading.
    pub title: String,
    /// The text (plain, wrapped by the panel; blank lines separate
    /// paragraphs).
    pub text: String,
    /// What the "Set up" button does (nothing when omitted).
    #[serde(default)]
    pub setup: Setup,
}

/// What a step sets. Every field is optional: an omitted one keeps the
/// lab's current value.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Setup {
    /// Network size N (16–4096).
    pub n: Option<usize>,
    /// Coupling mean J0.
    pub j0: Option<f64>,
    /// Coupling spread ΔJ.
    pub dj: Option<f64>,
    /// Field half-width H0.
    pub h0: Option<f64>,
    /// Inverse temperature β.
    pub beta: Option<f64>,
    /// Seed of the network.
    pub seed: Option<u64>,
    /// Phase-diagram axes (horizontal, vertical), two different parameters.
    pub diagram: Option<(SkParameter, SkParameter)>,
    /// Colour the phase diagram by σ/N (else by |m|).
    pub diagram_sigma: Option<bool>,
    /// Which stretch of time the m(t), q(t) plot shows.
    pub time_view: Option<TimeView>,
    /// Restart the network from all spins +1 (for relaxation).
    pub restart: bool,
    /// Play (true) or pause (false) the simulation.
    pub play: Option<bool>,
    /// Start a sweep with these settings.
    pub sweep: Option<SweepSetup>,
}

/// A sweep a step starts.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSetup {
    /// Scan J0 (true) or β (false).
    pub j0: bool,
    /// First value.
    pub from: f64,
    /// Last value.
    pub to: f64,
    /// Values scanned (2–200).
    pub points: usize,
    /// Independent networks per value (2–100).
    pub networks: usize,
}

/// Why a lesson file cannot be used (one line, names the file).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LessonError {
    /// The file could not be read.
    #[error("lesson file {file}: cannot read it: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The OS's reason.
        reason: String,
    },
    /// Not valid lesson RON.
    #[error("lesson file {file}: {position}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// "line L, column C".
        position: String,
        /// What the parser expected.
        reason: String,
    },
    /// Parsed, but a value is out of range or the lesson is empty.
    #[error("lesson file {file}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// Which step and value.
        reason: String,
    },
}

/// One line, whatever the source text holds.
fn one_line(s: &str) -> String {
    s.replace('\n', "\\n").replace('\r', "\\r")
}

impl Lesson {
    /// Parse and check a lesson; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, LessonError> {
        // Optional fields may be written bare (`beta: 2.0`) or as
        // `Some(2.0)`: lecturers should not need to know RON's Option.
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let lesson: Lesson = options.from_str(text).map_err(|e| LessonError::Syntax {
            file: file.to_string(),
            position: format!("line {}, column {}", e.span.start.line, e.span.start.col),
            reason: one_line(&e.code.to_string()),
        })?;
        lesson.check().map_err(|reason| LessonError::Invalid {
            file: file.to_string(),
            reason: one_line(&reason),
        })?;
        Ok(lesson)
    }

    /// Read, parse and check a lesson file.
    pub fn load(path: &Path) -> Result<Self, LessonError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LessonError::Read {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &file)
    }

    /// The bundled lessons, parsed (a broken bundled file is a build bug;
    /// the tests parse every one).
    pub fn bundled() -> Vec<Result<Self, LessonError>> {
        BUNDLED
            .iter()
            .map(|(name, text)| Self::parse(text, name))
            .collect()
    }

    fn check(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("the lesson has no title".into());
        }
        if self.steps.is_empty() {
            return Err("the lesson has no steps".into());
        }
        for (k, step) in self.steps.iter().enumerate() {
            step.setup
                .check()
                .map_err(|e| format!("step {} (\"{}\"): {e}", k + 1, step.title))?;
        }
        Ok(())
    }
}

impl Setup {
    fn check(&self) -> Result<(), String> {
        if let Some(n) = self.n
            && !N_RANGE.contains(&n)
        {
            return Err(format!(
                "n = {n} is outside {}..={}",
                N_RANGE.start(),
                N_RANGE.end()
            ));
        }
        let params = [
            (SkParameter::J0, "j0", self.j0),
            (SkParameter::Dj, "dj", self.dj),
            (SkParameter::H0, "h0", self.h0),
            (SkParameter::Beta, "beta", self.beta),
        ];
        for (p, name, v) in params {
            let (lo, hi) = axis_range(p);
            if let Some(v) = v
                && !(v.is_finite() && (lo..=hi).contains(&v))
            {
                return Err(format!("{name} = {v} is outside [{lo}, {hi}]"));
            }
        }
        if let Some((x, y)) = self.diagram
            && x == y
        {
            return Err("the phase diagram needs two different axes".into());
        }
        if let Some(s) = &self.sweep {
            let (lo, hi) = axis_range(if s.j0 {
                SkParameter::J0
            } else {
                SkParameter::Beta
            });
            for v in [s.from, s.to] {
                if !(v.is_finite() && (lo..=hi).contains(&v)) {
                    return Err(format!("sweep value {v} is outside [{lo}, {hi}]"));
                }
            }
            if !(2..=200).contains(&s.points) {
                return Err(format!("sweep points = {} is outside 2..=200", s.points));
            }
            if !(2..=100).contains(&s.networks) {
                return Err(format!(
                    "sweep networks = {} is outside 2..=100",
                    s.networks
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_lesson_parses() {
        for ((name, _), l) in BUNDLED.iter().zip(Lesson::bundled()) {
            let l = l.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!l.steps.is_empty(), "{name}");
        }
    }

    #[test]
    fn the_main_lesson_tells_the_papers_story() {
        let l = Lesson::parse(BUNDLED[0].1, BUNDLED[0].0).unwrap();
        // The five chapters of the issue, in order, each with a set-up.
        let titles: Vec<String> = l.steps.iter().map(|s| s.title.to_lowercase()).collect();
        let find = |w: &str| {
            titles
                .iter()
                .position(|t| t.contains(w))
                .unwrap_or_else(|| panic!("no step about {w}: {titles:?}"))
        };
        let order = [
            find("disordered"),
            find("j0"),
            find("δj"),
            find("entropy"),
            find("relax"),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        for s in &l.steps {
            assert_ne!(s.setup, Setup::default(), "{} sets nothing up", s.title);
        }
        // The relaxation step restarts from all +1 and shows the start.
        let relax = &l.steps[find("relax")].setup;
        assert!(relax.restart);
        assert_eq!(relax.time_view, Some(TimeView::Start));
    }

    #[test]
    fn bad_lesson_files_give_one_line_errors_naming_the_file_and_the_step() {
        let cases: [(&str, &str); 6] = [
            ("(title: \"x\", steps: [", "line"),
            ("(title: \"x\", steps: [])", "no steps"),
            (
                "(title: \"x\", steps: [(title: \"a\", text: \"t\", setup: (beta: 9.0))])",
                "step 1 (\"a\"): beta = 9 is outside [0, 4]",
            ),
            (
                "(title: \"x\", steps: [(title: \"a\", text: \"t\", setup: (bta: 1.0))])",
                "bta",
            ),
            (
                "(title: \"x\", steps: [(title: \"a\", text: \"t\"), (title: \"b\", text: \"t\", setup: (n: 5))])",
                "step 2 (\"b\"): n = 5",
            ),
            (
                "(title: \"x\", steps: [(title: \"a\", text: \"t\", setup: (diagram: Some((Beta, Beta))))])",
                "two different axes",
            ),
        ];
        for (text, want) in cases {
            let e = Lesson::parse(text, "my-lesson.ron")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("lesson file my-lesson.ron: "), "{e}");
            assert!(e.contains(want), "{e} (wanted {want})");
            assert!(!e.contains('\n'), "{e}");
        }
        // Bare optional values are accepted, like `Some(..)`.
        let bare = Lesson::parse(
            "(title: \"x\", steps: [(title: \"a\", text: \"t\", setup: (beta: 2.0, n: 64))])",
            "bare.ron",
        )
        .unwrap();
        assert_eq!(bare.steps[0].setup.beta, Some(2.0));
        assert_eq!(bare.steps[0].setup.n, Some(64));
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.ron");
        let e = Lesson::load(&missing).unwrap_err().to_string();
        assert!(e.contains("none.ron") && e.contains("cannot read"), "{e}");
        // A good file loads from disk.
        let good = dir.path().join("good.ron");
        std::fs::write(&good, BUNDLED[1].1).unwrap();
        assert_eq!(
            Lesson::load(&good).unwrap(),
            Lesson::parse(BUNDLED[1].1, "x").unwrap()
        );
    }
}
