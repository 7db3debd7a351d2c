//! Mean-field (Plefka) approximations of the kinetic Ising model: forward and inverse (issue 4).
