//! Where a spectrum's time went, reported as DR19 reports it (`t_elapsed`, `t_overhead`).

use crate::io::fields::Fields;

/// Seconds spent on one spectrum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// The network's work on this spectrum (all MC samples).
    pub network: f64,
    /// The spectrum's share of the work around the network: reading its file and
    /// continuum-normalizing it.
    pub overhead: f64,
}

impl Timing {
    /// Sets `t_overhead` (the overhead) and `t_elapsed` (network + overhead: Astra's timer
    /// adds each result's share of the overheads to the pipeline's own time per spectrum).
    pub fn set_fields(&self, fields: &mut Fields) {
        fields.set_f64("t_elapsed", self.network + self.overhead);
        fields.set_f64("t_overhead", self.overhead);
    }
}
