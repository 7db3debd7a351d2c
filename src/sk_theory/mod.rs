//! Exact large-N theory of the asymmetric Sherrington–Kirkpatrick model (issue 5).
