//! Labelled sequences from NumPy arrays (`--data X.npy --targets Y.npy [--lengths L.npy]`):
//! `X` float `[N, T, F]` (or `[N, T]`, one feature), `Y` the targets (integer class ids `[N]`,
//! floats `[N]`, or integer labels per step `[N, T]`), `L` integer lengths `[N]` when the
//! sequences are padded to `T` (steps past a length are ignored). The arrays become the same
//! [`Table`] rows a CSV file gives, so encoding, training and prediction are shared; class
//! names are the ids as text.
//!
//! Deliberately not here: `.npz` archives and object arrays of ragged sequences; pad them and
//! give the lengths.

use std::path::Path;

use crate::data::rows::{Kind, Row, Seq, Source, Table};
use crate::error::{Error, Result};
use crate::io::npy;

/// What the targets array holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Integer class ids `[N]` (`classify`).
    Classes,
    /// Numbers `[N]` (`regress`).
    Values,
    /// Integer labels per step `[N, T]` (`label`).
    Steps,
}

/// Reads `x` (and `targets`, `lengths` when given) into rows, one per sequence; a row's
/// `line` is its index along the first axis.
pub fn read_npy_table(
    x: &Path,
    targets: Option<&Path>,
    lengths: Option<&Path>,
    kind: TargetKind,
) -> Result<Table> {
    let (shape, data) = npy::read_f32(x)?;
    let (n, t, f) = match shape[..] {
        [n, t, f] => (n, t, f),
        [n, t] => (n, t, 1),
        _ => {
            return Err(Error::format(
                x,
                format!("shape {shape:?}; expected [sequences, steps, features] (or [sequences, steps])"),
            ));
        }
    };
    if n == 0 || t == 0 || f == 0 {
        return Err(Error::format(x, format!("shape {shape:?} holds no sequences")));
    }
    let mismatch = |other: &Path, oshape: &[usize], want: String| {
        Error::Input(format!(
            "{} has shape {oshape:?} but {} has shape {shape:?}; expected {want}",
            other.display(),
            x.display()
        ))
    };
    let lens: Vec<usize> = match lengths {
        None => vec![t; n],
        Some(lp) => read_lengths(lp, x, &shape)?,
    };
    let labels: Vec<Option<String>> = match (targets, kind) {
        (None, _) => vec![None; n],
        (Some(yp), TargetKind::Classes) => {
            let (ys, yv) = npy::read_ints(yp)?;
            if ys[..] != [n] {
                return Err(mismatch(yp, &ys, format!("[{n}] (one class id per sequence)")));
            }
            yv.iter().map(|y| Some(y.to_string())).collect()
        }
        (Some(yp), TargetKind::Values) => {
            let (ys, yv) = npy::read_f32(yp)?;
            if ys[..] != [n] {
                return Err(mismatch(yp, &ys, format!("[{n}] (one number per sequence)")));
            }
            yv.iter().map(|y| Some(y.to_string())).collect()
        }
        (Some(yp), TargetKind::Steps) => {
            let (ys, yv) = npy::read_ints(yp)?;
            if ys[..] != [n, t] {
                return Err(mismatch(yp, &ys, format!("[{n}, {t}] (a label per step)")));
            }
            yv.chunks(t)
                .zip(&lens)
                .map(|(row, &l)| Some(row[..l].iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")))
                .collect()
        }
    };
    let rows = data
        .chunks(t * f)
        .zip(lens)
        .zip(labels)
        .enumerate()
        .map(|(i, ((seq, len), label))| {
            let steps = seq[..len * f].chunks(f).map(|s| s.iter().map(|&v| v as f64).collect()).collect();
            Row { line: i, label, seq: Seq::Numbers(steps) }
        })
        .collect();
    let src = Source {
        path: x.into(),
        kind: Kind::Npy,
        column: "x".into(),
        col: 0,
        label_path: targets.map(Path::to_path_buf),
    };
    Ok(Table { src, rows })
}

/// Reads the lengths of the sequences of the array `x` of shape `[n, t, ...]`: `n` integers,
/// each 1 to `t`.
pub fn read_lengths(path: &Path, x: &Path, x_shape: &[usize]) -> Result<Vec<usize>> {
    let (n, t) = (x_shape[0], x_shape.get(1).copied().unwrap_or(1));
    let (shape, values) = npy::read_ints(path)?;
    if shape[..] != [n] {
        return Err(Error::Input(format!(
            "{} has shape {shape:?} but {} has shape {x_shape:?}; expected [{n}] (one length per sequence)",
            path.display(),
            x.display()
        )));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            usize::try_from(l).ok().filter(|l| (1..=t).contains(l)).ok_or_else(|| {
                Error::format(
                    path,
                    format!("index {i}: length {l}; expected 1 to {t} (the steps of {})", x.display()),
                )
            })
        })
        .collect()
}

/// Whether `path` names a `.npy` file.
pub fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "npy")
}
