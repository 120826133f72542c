//! ONNX `TensorProto`s (initializers, `Constant` values) as host tensors.

use onnx_protobuf::{TensorProto, tensor_proto::DataLocation};

use crate::{Error, Result};

/// A constant of the ONNX graph: its shape and its values as f32 (weights) and, for integer
/// tensors, exactly as i64 (shapes, axes, pads).
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    /// Dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// Every value as f32.
    pub values: Vec<f32>,
    /// Every value as i64 (integer tensors only; floats are left empty).
    pub ints: Vec<i64>,
}

// ONNX `TensorProto.DataType` codes.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const UINT32: i32 = 12;
const UINT64: i32 = 13;
const BFLOAT16: i32 = 16;

fn type_name(code: i32) -> String {
    match code {
        8 => "string".into(),
        14 | 15 => "complex".into(),
        17..=20 => "float8".into(),
        21 | 22 => "int4".into(),
        c => format!("data type {c}"),
    }
}

/// Decodes `t`, whose values sit in the file (external data is refused: the page has only
/// the one file).
pub fn constant(t: &TensorProto) -> Result<Constant> {
    let bad = |msg: String| Error::Onnx(format!("tensor `{}`: {msg}", t.name));
    if t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) || !t.external_data.is_empty() {
        return Err(bad(
            "its data is stored in a separate file; re-export the model with the weights inside (onnx.save(model, path, save_as_external_data=False))".into(),
        ));
    }
    let shape = t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))).collect::<Result<Vec<usize>>>()?;
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let raw = &t.raw_data;
    let from_raw = |width: usize| -> Result<Option<Vec<&[u8]>>> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() != n * width {
            return Err(bad(format!("shape {shape:?} needs {} bytes of data, the file has {}", n * width, raw.len())));
        }
        Ok(Some(raw.chunks_exact(width).collect()))
    };
    let (values, ints): (Vec<f32>, Vec<i64>) = match t.data_type {
        FLOAT => match from_raw(4)? {
            Some(b) => (b.iter().map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(), vec![]),
            None => (t.float_data.clone(), vec![]),
        },
        DOUBLE => match from_raw(8)? {
            Some(b) => (b.iter().map(|c| f64::from_le_bytes(c[..8].try_into().expect("8 bytes")) as f32).collect(), vec![]),
            None => (t.double_data.iter().map(|&v| v as f32).collect(), vec![]),
        },
        FLOAT16 | BFLOAT16 => {
            let bits: Vec<u16> = match from_raw(2)? {
                Some(b) => b.iter().map(|c| u16::from_le_bytes([c[0], c[1]])).collect(),
                None => t.int32_data.iter().map(|&v| v as u16).collect(),
            };
            let f = if t.data_type == FLOAT16 {
                bits.iter().map(|&b| half::f16::from_bits(b).to_f32()).collect()
            } else {
                bits.iter().map(|&b| half::bf16::from_bits(b).to_f32()).collect()
            };
            (f, vec![])
        }
        INT64 => {
            let i: Vec<i64> = match from_raw(8)? {
                Some(b) => b.iter().map(|c| i64::from_le_bytes(c[..8].try_into().expect("8 bytes"))).collect(),
                None => t.int64_data.clone(),
            };
            (i.iter().map(|&v| v as f32).collect(), i)
        }
        UINT64 => {
            let i: Vec<i64> = match from_raw(8)? {
                Some(b) => b.iter().map(|c| u64::from_le_bytes(c[..8].try_into().expect("8 bytes")) as i64).collect(),
                None => t.uint64_data.iter().map(|&v| v as i64).collect(),
            };
            (i.iter().map(|&v| v as f32).collect(), i)
        }
        INT32 | INT16 | INT8 | UINT8 | UINT16 | BOOL | UINT32 => {
            let width = match t.data_type {
                INT32 | UINT32 => 4,
                INT16 | UINT16 => 2,
                _ => 1,
            };
            let i: Vec<i64> = match from_raw(width)? {
                Some(b) => b
                    .iter()
                    .map(|c| match t.data_type {
                        INT32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                        UINT32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                        INT16 => i16::from_le_bytes([c[0], c[1]]) as i64,
                        UINT16 => u16::from_le_bytes([c[0], c[1]]) as i64,
                        INT8 => c[0] as i8 as i64,
                        _ => c[0] as i64,
                    })
                    .collect(),
                None => t.int32_data.iter().map(|&v| v as i64).collect(),
            };
            (i.iter().map(|&v| v as f32).collect(), i)
        }
        c => return Err(bad(format!("{} tensors are not supported (only numbers)", type_name(c)))),
    };
    if values.len() != n {
        return Err(bad(format!("shape {shape:?} needs {n} values, the file has {}", values.len())));
    }
    Ok(Constant { shape, values, ints })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(dims: &[i64], data_type: i32) -> TensorProto {
        TensorProto { name: "w".into(), dims: dims.to_vec(), data_type, ..Default::default() }
    }

    #[test]
    fn raw_and_typed_data_decode_to_the_same_values() {
        let mut raw = proto(&[2, 2], FLOAT);
        raw.raw_data = [1.5f32, -2.0, 0.25, 8.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut typed = proto(&[2, 2], FLOAT);
        typed.float_data = vec![1.5, -2.0, 0.25, 8.0];
        assert_eq!(constant(&raw).unwrap(), constant(&typed).unwrap());
        assert_eq!(constant(&raw).unwrap().shape, vec![2, 2]);

        let mut ints = proto(&[3], INT64);
        ints.raw_data = [1i64, -1, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(constant(&ints).unwrap().ints, vec![1, -1, 7]);
        let mut h = proto(&[2], FLOAT16);
        h.int32_data = vec![half::f16::from_f32(0.5).to_bits() as i32, half::f16::from_f32(-3.0).to_bits() as i32];
        assert_eq!(constant(&h).unwrap().values, vec![0.5, -3.0]);
    }

    #[test]
    fn wrong_sizes_and_types_are_refused_with_the_tensor_named() {
        let mut short = proto(&[2, 3], FLOAT);
        short.raw_data = vec![0; 20];
        let e = constant(&short).unwrap_err().to_string();
        assert!(e.contains("`w`") && e.contains("24 bytes") && e.contains("20"), "{e}");
        let e = constant(&proto(&[1], 8)).unwrap_err().to_string();
        assert!(e.contains("string"), "{e}");
        let mut ext = proto(&[1], FLOAT);
        ext.data_location = DataLocation::EXTERNAL.into();
        assert!(constant(&ext).unwrap_err().to_string().contains("separate file"));
        let e = constant(&proto(&[-1], FLOAT)).unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
    }
}
