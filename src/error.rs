//! The library's one error type. Errors carry their data (which file, which tensor, which
//! value) so the binary can print a message a person can act on; the library never prints or
//! exits.

use std::path::PathBuf;

/// Everything that can go wrong in recur's library, each with what a person needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting out of its range (a size of 0, a fraction outside [0, 1), ...).
    #[error("invalid {field} = {value}: {reason}")]
    BadConfig {
        /// The setting, as the command line names it.
        field: String,
        /// The value given.
        value: String,
        /// What the value must be.
        reason: String,
    },

    /// An array of the wrong size for the model or the batch.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Which array.
        what: String,
        /// The shape (or length) the model needs.
        expected: Vec<usize>,
        /// The shape (or length) given.
        got: Vec<usize>,
    },

    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A file that exists but whose contents are not what recur expects.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with the line, column or tensor where that helps.
        reason: String,
    },

    /// A model file whose tensors do not match the architecture.
    #[error("{path}: tensors do not match a {arch} model:\n{problems}")]
    ModelMismatch {
        /// The model file.
        path: PathBuf,
        /// The architecture its metadata (or its tensors) describe.
        arch: String,
        /// One line per tensor that is missing, extra or of the wrong shape.
        problems: String,
    },

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
    Diverged {
        /// The training step (from 1).
        step: usize,
        /// The loss it gave.
        loss: f64,
    },

    /// The gradient norm (before clipping) is not finite.
    #[error(
        "training diverged at step {step}: gradient norm is {norm}; the last checkpoint is the last good model (try a lower --lr)"
    )]
    DivergedGrad {
        /// The training step (from 1).
        step: usize,
        /// The gradients' global L2 norm.
        norm: f64,
    },
}

/// A result whose error is recur's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// A file whose contents are not what recur expects, and why.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format { path: path.into(), reason: reason.into() }
    }
    /// A text file that is not UTF-8, saying where: `not UTF-8 text: line 3 has a byte that is
    /// not UTF-8 (0xff at byte 41); save the file as UTF-8`.
    pub fn not_utf8(path: impl Into<PathBuf>, bytes: &[u8], e: &std::str::Utf8Error) -> Self {
        let at = e.valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let reason = match (e.error_len(), bytes.get(at)) {
            (Some(_), Some(b)) => {
                format!("line {line} has a byte that is not UTF-8 (0x{b:02x} at byte {at})")
            }
            _ => format!("the file ends inside a character (at byte {at})"),
        };
        Error::format(path, format!("not UTF-8 text: {reason}; save the file as UTF-8"))
    }
}
