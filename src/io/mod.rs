//! Files: model files (safetensors with PyTorch names), NumPy `.npy` arrays, atomic writes.
pub mod atomic;
pub mod model_file;
pub mod npy;
