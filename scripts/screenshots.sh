#!/usr/bin/env bash
# Take screenshots of every tab of the real app window under Xvfb and write
# them to screenshots/: Data, Raster, Couplings and Fit on the bundled real
# recording (the last two fitted by exact ML at start-up), the State space
# tab fitted to synthetic trials, and the phase lab on both sides of the
# transition. CI runs it after the tests. Needs the packages that .ci/run installs (xvfb,
# imagemagick, Mesa). Usage: scripts/screenshots.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/isingscope}
# Build the GUI binary (a --no-default-features build may have replaced it).
[ "$bin" = target/debug/isingscope ] && cargo build --quiet
display=:97
Xvfb $display -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
export DISPLAY=$display XDG_RUNTIME_DIR=$(mktemp -d)
unset WAYLAND_DISPLAY
sleep 2
mkdir -p screenshots
# The app keeps its window size in its data folder: every shot starts from a
# fresh one, so a size left by an earlier run (e.g. a 900 x 600 test) does not
# change the layout.
shots_home=$(mktemp -d)
shoot() { # tab name, output file, extra args
  local tab=$1 out=$2; shift 2
  XDG_DATA_HOME=${XDG_DATA_HOME:-$shots_home} "$bin" --tab "$tab" "$@" >/dev/null 2>&1 &
  local app=$!
  sleep "${SHOT_DELAY:-12}"
  import -window root "screenshots/$out"
  kill $app 2>/dev/null || true
  wait $app 2>/dev/null || true
  echo "wrote screenshots/$out"
}
shoot data data.png
shoot raster raster.png
SHOT_DELAY=${FIT_DELAY:-25} shoot couplings couplings.png --fit
SHOT_DELAY=${FIT_DELAY:-25} shoot fit fit.png --fit
SHOT_DELAY=${SS_DELAY:-40} shoot state-space state-space.png --fit
# The phase lab, playing, below and above the critical coupling (β = 1,
# ΔJ = 0.5: J0_c ≈ 1.35), from session files.
tmp=$(mktemp -d)
for phase in disordered:0.8 ordered:2.0; do
  name=${phase%%:*}; j0=${phase##*:}
  cat > "$tmp/$name.ron" <<RON
(tab: PhaseLab, phase_lab: (n: 512, j0: $j0, dj: 0.5, h0: 0.0, beta: 1.0, seed: 1, playing: true))
RON
  SHOT_DELAY=${LAB_DELAY:-15} shoot phase-lab "phase-lab-$name.png" "$tmp/$name.ron"
done
# The phase diagram in the (J0, β) plane with the current point (teaching view).
cat > "$tmp/axes.ron" <<RON
(tab: PhaseLab, phase_lab: (n: 512, j0: 1.6, dj: 0.5, h0: 0.0, beta: 1.0, seed: 1, playing: true, diagram_x: J0, diagram_y: Beta))
RON
SHOT_DELAY=${LAB_DELAY:-15} shoot phase-lab phase-lab-axes.png "$tmp/axes.ron"
# The Mean-field lab's β sweep across β_c (the Plefka paper's comparison;
# N = 256 so that the debug build finishes within the delay).
# Teaching: the lessons panel with the expected-scatter bands, the
# relaxation view, and presentation mode.
cat > "$tmp/lessons.ron" <<RON
(tab: PhaseLab, phase_lab: (n: 512, j0: 1.0, dj: 0.5, h0: 0.0, beta: 2.0, seed: 1, playing: true, show_lessons: true))
RON
SHOT_DELAY=${LAB_DELAY:-15} shoot phase-lab phase-lab-lessons.png "$tmp/lessons.ron"
cat > "$tmp/relax.ron" <<RON
(tab: PhaseLab, phase_lab: (n: 2048, j0: 1.0, dj: 0.5, h0: 0.0, beta: 2.0, seed: 1, playing: true, time_view: Start))
RON
SHOT_DELAY=${LAB_DELAY:-15} shoot phase-lab phase-lab-relaxation.png "$tmp/relax.ron"
cat > "$tmp/present.ron" <<RON
(tab: PhaseLab, presentation: true, enlarged_plot: Some("lab_mq"), phase_lab: (n: 512, j0: 1.0, dj: 0.5, h0: 0.0, beta: 2.0, seed: 1, playing: true))
RON
SHOT_DELAY=${LAB_DELAY:-15} shoot phase-lab phase-lab-presentation.png "$tmp/present.ron"
cat > "$tmp/mflab.ron" <<RON
(tab: MeanFieldLab, meanfield_lab: (n: 256, j0: 1.0, dj: 0.1, h0: 0.5, seed: 1, beta_from: 0.7, beta_to: 1.5, points: 9, steps: 128, trials: 1000))
RON
SHOT_DELAY=${MF_DELAY:-240} shoot mean-field-lab meanfield-lab.png "$tmp/mflab.ron" --fit
# Trial-aligned views (issue 15) on a synthetic trial-structured NWB written
# by scripts/trials_fixture.py (needs `pip install pynwb`): the raster with
# its time axis from the event and the event line, and the PSTH tab with
# the trials grouped by `stimulus` and units sorted by response latency.
if python3 -c 'import pynwb' 2>/dev/null; then
  python3 scripts/trials_fixture.py "$tmp/trials.nwb" >/dev/null
  load="load: Some((path: \"$tmp/trials.nwb\", bin_ms: 10.0, intervals: \"trials\", pre_s: 0.5, post_s: 1.0))"
  cat > "$tmp/trials-raster.ron" <<RON
(tab: Raster, $load, raster: (trial: 0, start: 0.0, len: 0.0))
RON
  cat > "$tmp/trials-psth.ron" <<RON
(tab: Psth, $load, psth: (group_by: "stimulus", order: Latency, unit: 2))
RON
  # Fresh app storage: a window size saved by an earlier run would change
  # the layout.
  XDG_DATA_HOME=$tmp/xdg SHOT_DELAY=${TRIALS_DELAY:-12} shoot raster raster-trials.png "$tmp/trials-raster.ron"
  XDG_DATA_HOME=$tmp/xdg SHOT_DELAY=${TRIALS_DELAY:-12} shoot psth psth-by-condition.png "$tmp/trials-psth.ron"
else
  echo "skipped raster-trials.png and psth-by-condition.png: pip install pynwb"
fi
