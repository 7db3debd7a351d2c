//! Tabs that arrive with later work: a clear note of what they will hold.

/// The state-space tab (animated time-varying couplings).
pub fn state_space_ui(ui: &mut egui::Ui) {
    ui.heading("State space");
    ui.label(
        "Coming next: fit time-varying fields h(t) and couplings J(t) to trial data by the \
         state-space EM, and play J(t) as an animated heatmap beside the entropy flow.",
    );
}
