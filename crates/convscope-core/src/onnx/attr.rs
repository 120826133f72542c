//! Reading an ONNX node's attributes, and the short forms messages use; shared by the
//! converters and the constant folding.

use onnx_protobuf::{AttributeProto, NodeProto};

use crate::{Error, Result};

pub(crate) fn err(n: &NodeProto, msg: impl std::fmt::Display) -> Error {
    let name = if n.name.is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name.clone() };
    Error::Onnx(format!("node `{name}` ({}): {msg}", n.op_type))
}

pub(crate) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

pub(crate) fn int(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

pub(crate) fn float(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}

pub(crate) fn ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

pub(crate) fn string(n: &NodeProto, name: &str) -> String {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default()
}

pub(crate) fn pair(n: &NodeProto, name: &str, v: Option<Vec<i64>>, default: usize) -> Result<[usize; 2]> {
    match v.as_deref() {
        None => Ok([default; 2]),
        Some([a, b]) if *a >= 1 && *b >= 1 => Ok([*a as usize, *b as usize]),
        Some(v) => Err(err(n, format!("`{name}` must be two positive numbers (2-D), got {}", short(v)))),
    }
}

/// A list for a message: its first values, and how many there are when it is long.
pub(crate) fn short<T: std::fmt::Debug>(v: &[T]) -> String {
    if v.len() <= 8 { format!("{v:?}") } else { format!("{:?}... ({} values)", &v[..8], v.len()) }
}

pub(crate) fn dims(s: &[usize]) -> String {
    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}
