//! The learning-rate schedule: Keras's `ReduceLROnPlateau` as astroNN configures it (SPEC
//! §9): halve the learning rate when the monitored validation error has not improved by
//! `min_delta` for `patience` epochs, never below `min_lr`.

use serde::{Deserialize, Serialize};

/// Settings of the plateau schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlateauSettings {
    /// Multiplier applied on a plateau (astroNN: 0.5).
    pub factor: f64,
    /// Epochs without improvement before a reduction (astroNN: 2).
    pub patience: usize,
    /// Improvement that counts (astroNN: 5e-5).
    pub min_delta: f64,
    /// Floor of the learning rate (astroNN: 1e-8).
    pub min_lr: f64,
}

impl Default for PlateauSettings {
    fn default() -> Self {
        PlateauSettings {
            factor: 0.5,
            patience: 2,
            min_delta: 5e-5,
            min_lr: 1e-8,
        }
    }
}

/// The schedule's state between epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReduceLrOnPlateau {
    /// The settings.
    pub settings: PlateauSettings,
    /// The learning rate for the next epoch.
    pub lr: f64,
    /// The best monitored value so far (+∞ before the first epoch).
    pub best: f64,
    /// Epochs since the last improvement (or reduction).
    pub wait: usize,
}

impl ReduceLrOnPlateau {
    /// The schedule starting at learning rate `lr`.
    pub fn new(lr: f64, settings: PlateauSettings) -> Self {
        ReduceLrOnPlateau {
            settings,
            lr,
            best: f64::INFINITY,
            wait: 0,
        }
    }

    /// Records an epoch's monitored value (lower is better; NaN never improves) and returns
    /// whether the learning rate was reduced. Keras's rule: an improvement is a value below
    /// best − min_delta; after `patience` epochs without one, lr ← max(lr · factor, min_lr)
    /// (when lr is above the floor) and the count restarts.
    pub fn end_epoch(&mut self, monitored: f64) -> bool {
        if monitored < self.best - self.settings.min_delta {
            self.best = monitored;
            self.wait = 0;
            return false;
        }
        self.wait += 1;
        if self.wait < self.settings.patience {
            return false;
        }
        self.wait = 0;
        if self.lr > self.settings.min_lr {
            self.lr = (self.lr * self.settings.factor).max(self.settings.min_lr);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_after_two_epochs_without_improvement() {
        let mut s = ReduceLrOnPlateau::new(1e-3, PlateauSettings::default());
        assert!(!s.end_epoch(1.0)); // best 1.0
        assert!(!s.end_epoch(0.99)); // improved
        assert!(!s.end_epoch(0.98996)); // by less than 5e-5: wait 1
        assert!(s.end_epoch(0.995)); // wait 2: halve
        assert_eq!(s.lr, 5e-4);
        assert_eq!(s.wait, 0);
        assert!(!s.end_epoch(f64::NAN)); // wait 1
        assert!(s.end_epoch(0.99)); // wait 2: halve again
        assert_eq!(s.lr, 2.5e-4);
        assert!(!s.end_epoch(0.5)); // improved
        assert_eq!(s.best, 0.5);
    }

    #[test]
    fn never_goes_below_the_floor() {
        let mut s = ReduceLrOnPlateau::new(1.5e-8, PlateauSettings::default());
        s.end_epoch(1.0);
        s.end_epoch(1.0);
        assert!(s.end_epoch(1.0));
        assert_eq!(s.lr, 1e-8);
        s.end_epoch(1.0);
        assert!(!s.end_epoch(1.0));
        assert_eq!(s.lr, 1e-8);
    }
}
