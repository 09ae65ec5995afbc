//! Data sources, one module per task or format. Each turns files or generators into
//! batch-first `[B, T, I]` inputs and targets for [`crate::model::Session`].
pub mod addition;
pub mod bitcount;
pub mod classify;
pub mod encoding;
pub mod forecast;
pub mod idx;
pub mod mnist;
pub mod npy_rows;
pub mod predictions;
pub mod rows;
pub mod tagging;
pub mod text;
