//! Renders an `Assessment` and the draft orders into CDS Hooks cards and rating actions.
//!
//! Pure: decides nothing clinical; every word the clinician reads is phrased here.
