//! MNIST-style image sets: an IDX images file of 28x28 pixels and its IDX labels file
//! (`{prefix}-images-idx3-ubyte[.gz]`, `{prefix}-labels-idx1-ubyte[.gz]`) in one directory,
//! as MNIST and Fashion-MNIST ship them.

use std::path::{Path, PathBuf};

use crate::data::idx::{read_images, read_labels};
use crate::error::{Error, Result};

/// Images as `[N, 28, 28]` floats in [0, 1] and their labels.
#[derive(Clone, Debug, Default)]
pub struct Images {
    /// `[N, 28, 28]` pixels scaled to [0, 1].
    pub pixels: Vec<f32>,
    /// `[N]` classes 0..9.
    pub labels: Vec<u32>,
}

impl Images {
    /// How many images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// `[28, 28]` pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * 784..(i + 1) * 784]
    }
    /// A copy of images `r`.
    pub fn slice(&self, r: std::ops::Range<usize>) -> Images {
        Images { pixels: self.pixels[r.start * 784..r.end * 784].to_vec(), labels: self.labels[r].to_vec() }
    }
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(format!("{stem}.gz")), dir.join(stem)].into_iter().find(|p| p.exists())
}

/// Reads one images/labels pair and checks they agree.
pub fn read_set(dir: &Path, prefix: &str) -> Result<Images> {
    let missing = |what: &str| {
        Error::Input(format!(
            "{}: no {prefix}-{what} file (looked for {prefix}-{what}-idx{}-ubyte[.gz])",
            dir.display(),
            if what == "images" { 3 } else { 1 }
        ))
    };
    let ip = find(dir, &format!("{prefix}-images-idx3-ubyte")).ok_or_else(|| missing("images"))?;
    let lp = find(dir, &format!("{prefix}-labels-idx1-ubyte")).ok_or_else(|| missing("labels"))?;
    let (n, rows, cols, px) = read_images(&ip)?;
    if (rows, cols) != (28, 28) {
        return Err(Error::format(&ip, format!("images are {rows}x{cols}; this task reads 28x28")));
    }
    let labels = read_labels(&lp)?;
    if labels.len() != n {
        return Err(Error::format(
            &lp,
            format!("{} labels for {n} images in {}", labels.len(), ip.display()),
        ));
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::format(&lp, format!("label {bad} is not a class 0..9")));
    }
    Ok(Images {
        pixels: px.iter().map(|&p| p as f32 / 255.0).collect(),
        labels: labels.iter().map(|&l| l as u32).collect(),
    })
}
