//! Format readers: files and text into rows, arrays and ids. They know no model and no
//! training loop; the tasks (`src/task/`) turn what they read into batches.
pub mod encoding;
pub mod idx;
pub mod images;
pub mod npy_rows;
pub mod rows;
pub mod series;
pub mod tokenize;
