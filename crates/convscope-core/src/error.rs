//! The one error type of the core crate: every message says what was wrong and how to fix it.

use std::fmt;

/// What went wrong while loading a model, preparing an input or running a layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The model file is not a convscope model, is truncated, or is inconsistent.
    BadModelFile(String),
    /// A layer id that the model does not have.
    UnknownLayer {
        /// The id that was asked for.
        id: String,
        /// Every valid id, in network order.
        valid: Vec<String>,
    },
    /// An ONNX file that cannot be read, or a model that uses what convscope does not run.
    Onnx(String),
    /// The graph is well-formed as a file but cannot be run (bad shapes, bad wiring).
    InvalidGraph(String),
    /// The input image or tensor does not fit the model.
    BadInput(String),
    /// A tensor could not be read back from the device.
    Readback(String),
    /// The GPU device was lost (a driver reset, a browser that reclaimed it): nothing more
    /// runs on it, the work needs a new device or the CPU.
    DeviceLost(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadModelFile(msg) => write!(f, "not a valid convscope model file: {msg}"),
            Error::UnknownLayer { id, valid } => write!(f, "unknown layer `{id}`; valid layers are: {}", valid.join(", ")),
            Error::Onnx(msg) => write!(f, "cannot import the ONNX model: {msg}"),
            Error::InvalidGraph(msg) => write!(f, "invalid model graph: {msg}"),
            Error::BadInput(msg) => write!(f, "bad input: {msg}"),
            Error::Readback(msg) => write!(f, "could not read a tensor back from the device: {msg}"),
            Error::DeviceLost(why) => write!(f, "{DEVICE_LOST} ({why}): its work cannot finish there"),
        }
    }
}

impl std::error::Error for Error {}

/// The words every lost-device message starts with (the page looks for them to recover).
pub const DEVICE_LOST: &str = "the GPU device was lost";

/// Result with the core [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
