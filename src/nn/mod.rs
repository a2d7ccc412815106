//! The networks and the Monte Carlo dropout engine.
