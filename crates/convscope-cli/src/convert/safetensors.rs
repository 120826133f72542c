//! Read a `.safetensors` file (8-byte header length, JSON index, raw data).

use std::collections::HashMap;

use convscope_core::tensor_data::{HostTensor, StoredDType};

/// Every tensor of a safetensors file, as f32.
pub fn read(bytes: &[u8]) -> Result<HashMap<String, HostTensor>, String> {
    let len = bytes.get(..8).ok_or("file shorter than its header length")?;
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
    let header = bytes.get(8..8 + len).ok_or("header runs past the end")?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header).map_err(|e| format!("bad header: {e}"))?;
    let data = &bytes[8 + len..];
    let mut out = HashMap::new();
    for (name, entry) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = match entry["dtype"].as_str() {
            Some("F32") => StoredDType::F32,
            Some("F16") => StoredDType::F16,
            other => return Err(format!("tensor `{name}` has unsupported dtype {other:?}")),
        };
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone()).map_err(|e| e.to_string())?;
        let [a, b]: [usize; 2] = serde_json::from_value(entry["data_offsets"].clone()).map_err(|e| e.to_string())?;
        let raw = data.get(a..b).ok_or_else(|| format!("tensor `{name}` runs past the end"))?;
        let t = HostTensor::new(shape, dtype.decode(raw)).map_err(|e| e.to_string())?;
        out.insert(name, t);
    }
    Ok(out)
}
