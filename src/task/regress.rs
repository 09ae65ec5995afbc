//! `recur train regress`: a number per sequence of your own data, with mean squared error.
//! The same rows, encodings and held-out files as `classify` ([`crate::task::classify`]),
//! with a numeric label column whose values are normalized in training and stored.

use crate::task::classify::ClassifyTask;

/// The registry's entry.
pub static REGRESS: ClassifyTask = ClassifyTask { regress: true };
