//! The knowledge base (ACR variants and ratings, procedure codes, value sets, thresholds), loaded from
//! the `knowledge/` files embedded in the binary and validated once at start-up.
