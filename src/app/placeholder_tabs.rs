//! Tabs that arrive with later work: a clear note of what they will hold.

/// The phase-transition lab (live simulation against exact SK theory).
pub fn phase_lab_ui(ui: &mut egui::Ui) {
    ui.heading("Phase lab");
    ui.label(
        "Coming next: sliders for the coupling mean J0 and spread ΔJ drive a live simulation \
         of an asymmetric SK network, drawn against the exact large-N theory (order parameter m, \
         one-step overlap q, entropy production σ/N) and the phase diagram.",
    );
}

/// The state-space tab (animated time-varying couplings).
pub fn state_space_ui(ui: &mut egui::Ui) {
    ui.heading("State space");
    ui.label(
        "Coming next: fit time-varying fields h(t) and couplings J(t) to trial data by the \
         state-space EM, and play J(t) as an animated heatmap beside the entropy flow.",
    );
}
