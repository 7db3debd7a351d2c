//! Fitting couplings and fields to data: exact maximum likelihood (issue 4).
