//! Files: model files (safetensors with PyTorch names), ONNX export, NumPy `.npy` arrays,
//! atomic writes.
pub mod atomic;
pub mod model_file;
pub mod npy;
pub mod onnx;
mod onnx_builder;
mod onnx_proto;
