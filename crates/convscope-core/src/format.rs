//! The `.csm` model file: a JSON header (graph, input spec, labels, tensor index) and the
//! tensors' raw little-endian data.
//!
//! Layout: `b"CSM\0"`, format version (u32 LE), header length in bytes (u64 LE), the header
//! as UTF-8 JSON, zero padding to a multiple of 8, then the data section. Tensor offsets are
//! relative to the start of the data section.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    graph::GraphSpec,
    preprocess::InputSpec,
    tensor_data::{HostTensor, StoredDType},
};

const MAGIC: &[u8; 4] = b"CSM\0";
const VERSION: u32 = 1;

/// Where one tensor's data sits in the data section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// Name the graph refers to.
    pub name: String,
    /// Storage type.
    pub dtype: StoredDType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Byte offset in the data section.
    pub offset: usize,
}

/// Everything in a model file except the tensor data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Short model id, e.g. `efficientnet-lite0`.
    pub name: String,
    /// One line for people: what it classifies and where it comes from.
    pub description: String,
    /// How an image becomes the input tensor.
    pub input: InputSpec,
    /// Class names in logit order.
    pub labels: Vec<String>,
    /// The network.
    pub graph: GraphSpec,
    /// Index of the data section.
    pub tensors: Vec<TensorEntry>,
}

/// A model file in memory: header plus every tensor decoded to f32.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// The header.
    pub header: Header,
    /// Decoded tensors by name.
    pub tensors: HashMap<String, HostTensor>,
}

impl ModelFile {
    /// Parse a `.csm` file. Never panics on bad bytes: every inconsistency is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::BadModelFile(m);
        if bytes.len() < 16 || &bytes[..4] != MAGIC {
            return Err(bad("it does not start with the convscope magic `CSM\\0` \
                 (is this an ONNX or PyTorch file? convert it first)"
                .into()));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(format!("format version {version}, this build reads {VERSION}")));
        }
        let header_len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let header_end = usize::try_from(header_len)
            .ok()
            .and_then(|l| l.checked_add(16))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad(format!("header of {header_len} bytes runs past the end (truncated file?)")))?;
        let header: Header = serde_json::from_slice(&bytes[16..header_end]).map_err(|e| bad(format!("header is not valid: {e}")))?;
        let data_start = header_end.div_ceil(8) * 8;
        let data = bytes.get(data_start..).unwrap_or(&[]);
        let mut tensors = HashMap::with_capacity(header.tensors.len());
        for entry in &header.tensors {
            let n =
                entry.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad(format!("tensor `{}` has an absurd shape", entry.name)))?;
            let len = n.checked_mul(entry.dtype.size()).ok_or_else(|| bad(format!("tensor `{}` has an absurd shape", entry.name)))?;
            let raw = entry
                .offset
                .checked_add(len)
                .and_then(|end| data.get(entry.offset..end))
                .ok_or_else(|| bad(format!("tensor `{}` runs past the end of the file (truncated?)", entry.name)))?;
            let t = HostTensor::new(entry.shape.clone(), entry.dtype.decode(raw))?;
            if tensors.insert(entry.name.clone(), t).is_some() {
                return Err(bad(format!("tensor `{}` is stored twice", entry.name)));
            }
        }
        if !header.labels.is_empty() {
            let shapes = header.graph.infer_shapes(&tensors)?;
            let classes = shapes.last().map(|s| s[0]).unwrap_or(0);
            if classes != header.labels.len() {
                return Err(bad(format!("{} labels for {classes} output classes", header.labels.len())));
            }
        }
        Ok(Self { header, tensors })
    }

    /// Serialise, storing every tensor as `dtype`. Tensors are written in name order.
    pub fn to_bytes(&self, dtype: StoredDType) -> Vec<u8> {
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let mut data = Vec::new();
        let mut entries = Vec::with_capacity(names.len());
        for name in names {
            let t = &self.tensors[name];
            while data.len() % 8 != 0 {
                data.push(0);
            }
            entries.push(TensorEntry { name: name.clone(), dtype, shape: t.shape.clone(), offset: data.len() });
            dtype.encode(&t.data, &mut data);
        }
        let mut header = self.header.clone();
        header.tensors = entries;
        let json = serde_json::to_vec(&header).expect("a header always serialises");
        let mut out = Vec::with_capacity(16 + json.len() + 8 + data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&data);
        out
    }
}

/// Fixtures shared with other modules' tests.
#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::graph::{INPUT, NodeSpec, OpSpec};

    /// A two-class linear model on a 1x2x2 input.
    pub fn tiny_file() -> ModelFile {
        let mut tensors = HashMap::new();
        tensors.insert("fc.w".to_string(), HostTensor::new(vec![2, 4], (0..8).map(|i| i as f32).collect()).unwrap());
        tensors.insert("fc.b".to_string(), HostTensor::new(vec![2], vec![0.5, -0.5]).unwrap());
        ModelFile {
            header: Header {
                name: "tiny".into(),
                description: "test".into(),
                input: InputSpec::imagenet(1, 2, 2),
                labels: vec!["a".into(), "b".into()],
                graph: GraphSpec {
                    input_shape: [1, 2, 2],
                    nodes: vec![
                        NodeSpec { id: "flat".into(), op: OpSpec::Flatten(crate::graph::ops::flatten::Flatten {}), inputs: vec![INPUT.into()] },
                        NodeSpec {
                            id: "logits".into(),
                            op: OpSpec::Linear(crate::graph::ops::linear::Linear { weight: "fc.w".into(), bias: Some("fc.b".into()) }),
                            inputs: vec!["flat".into()],
                        },
                    ],
                },
                tensors: vec![],
            },
            tensors,
        }
    }

    #[test]
    fn round_trip_keeps_header_and_tensors() {
        let file = tiny_file();
        let bytes = file.to_bytes(StoredDType::F32);
        let back = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(back.header.graph, file.header.graph);
        assert_eq!(back.tensors, file.tensors);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = tiny_file().to_bytes(StoredDType::F16);
        for cut in 0..bytes.len() {
            assert!(ModelFile::from_bytes(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn wrong_magic_says_what_it_is_not() {
        let err = ModelFile::from_bytes(b"\x08\x07onnx-ish bytes here").unwrap_err().to_string();
        assert!(err.contains("magic"), "{err}");
    }
}
