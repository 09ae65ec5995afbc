//! The library's one error type. Errors carry their data (which file, which tensor, which
//! value) so the binary can print a message a person can act on; the library never prints or
//! exits.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {field} = {value}: {reason}")]
    BadConfig { field: String, value: String, reason: String },

    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    ShapeMismatch { what: String, expected: Vec<usize>, got: Vec<usize> },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that exists but whose contents are not what recur expects.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },

    /// A model file whose tensors do not match the architecture.
    #[error("{path}: tensors do not match a {arch} model:\n{problems}")]
    ModelMismatch { path: PathBuf, arch: String, problems: String },

    /// Bad user input that is not a file (a bit string, a number, a flag value).
    #[error("{0}")]
    Input(String),

    /// A model, or an export option, that the ONNX graph cannot express.
    #[error("cannot export to ONNX: {0}")]
    Export(String),

    /// Training produced a non-finite loss or gradient.
    #[error(
        "training diverged at step {step}: loss is {loss}; the last checkpoint is the last good model (try a lower --lr or --clip)"
    )]
    Diverged { step: usize, loss: f64 },

    /// The gradient norm (before clipping) is not finite.
    #[error(
        "training diverged at step {step}: gradient norm is {norm}; the last checkpoint is the last good model (try a lower --lr)"
    )]
    DivergedGrad { step: usize, norm: f64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format { path: path.into(), reason: reason.into() }
    }
}
