//! State-space kinetic Ising model: time-varying fields and couplings (issue 6).
