//! A simulated APOGEE survey with known truth: a test bed for the networks and for anyone's
//! pipeline, not astrophysics. `docs/simulation.md` gives the model and its equations.
//!
//! - [`population`]: the stars' labels, masses, distances, extinction and magnitudes;
//! - [`spectrum`]: the spectral model (a real APOGEE spectrum whose lines respond to the
//!   labels) and its Jacobian;
//! - [`observe`]: visits, noise, instrumental continuum and flagged pixels;
//! - [`crb`]: the Cramér–Rao bound of every label;
//! - [`catalogs`]: the truth and survey (allStar-like) catalogs;
//! - [`flags`]: the survey catalog's quality flags, RV scatter and Gaia astrometric quality;
//! - [`given`]: stars given by the user instead of drawn;
//! - [`survey`]: the whole run, to apStar files or normalized spectra.

pub mod catalogs;
pub mod crb;
pub mod flags;
pub mod given;
pub mod observe;
pub mod population;
pub mod run;
pub mod spectrum;
pub mod survey;
