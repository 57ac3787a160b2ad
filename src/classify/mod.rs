//! The ACR scenario classifier: from `Evidence` and a point in time to an `Assessment`.
//!
//! Pure: no IO, no clock, no randomness, never fails. Missing data is an answer ("what to document"),
//! not an error.
