//! A classifier: its graph on a device plus what it needs around it (input spec, labels).

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::{
    Error, Result,
    format::ModelFile,
    graph::Graph,
    preprocess::{InputSpec, Preprocess, RgbaImage, as_seen, normalise},
};

/// A loaded image classifier.
#[derive(Debug, Clone)]
pub struct Model {
    /// Short id, e.g. `efficientnet-lite0`.
    pub name: String,
    /// One line about it.
    pub description: String,
    /// How images become its input.
    pub input: InputSpec,
    /// Class names in logit order (may be empty: classes are then shown by index).
    pub labels: Vec<String>,
    /// The network.
    pub graph: Graph,
}

/// An image made ready for a model ([`Model::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The normalised input, `[1, C, H, W]`, on the model's device.
    pub input: Tensor<4>,
    /// The image as the model sees it: RGB8 at the input size, before normalisation, grey
    /// for a one-channel model (for overlays and "what the model sees").
    pub rgb: Vec<u8>,
}

/// One class of a prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Class index.
    pub index: usize,
    /// Class name.
    pub label: String,
    /// Softmax probability.
    pub prob: f32,
    /// Raw logit.
    pub logit: f32,
}

impl Model {
    /// Load a `.csm` model file onto `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        Self::from_file(ModelFile::from_bytes(bytes)?, device)
    }

    /// Load a parsed model file onto `device`; its weights move to the device.
    pub fn from_file(file: ModelFile, device: &Device) -> Result<Self> {
        let ModelFile { header: h, tensors } = file;
        Ok(Self { graph: Graph::load(&h.graph, tensors, device)?, name: h.name, description: h.description, input: h.input, labels: h.labels })
    }

    /// The input tensor for an image, with convscope's default preprocessing.
    ///
    /// # Shapes
    /// returns `[1, C, H, W]`
    pub fn input_tensor(&self, image: &RgbaImage) -> Result<Tensor<4>> {
        Ok(self.prepare(image, &Preprocess::default())?.input)
    }

    /// An image made ready for this model by `pre`: the normalised input on the model's
    /// device and the image as the model sees it (grey for a one-channel model). The one
    /// place the CLI and the page turn pixels into an input.
    pub fn prepare(&self, image: &RgbaImage, pre: &Preprocess) -> Result<Prepared> {
        let rgb = pre.resize(image, &self.input)?;
        let input = Tensor::from_data(normalise(&rgb, &self.input), self.graph.device());
        Ok(Prepared { input, rgb: as_seen(rgb, self.input.channels) })
    }

    /// The logits for an input (`[1, C, H, W]`), read back.
    pub async fn logits(&self, input: Tensor<4>) -> Result<Vec<f32>> {
        let (logits, _) = self.graph.forward(input, &[])?;
        crate::readback::read(logits).await
    }

    /// Name of class `index` (its number when the model has no labels).
    pub fn label(&self, index: usize) -> String {
        self.labels.get(index).cloned().unwrap_or_else(|| format!("class {index}"))
    }

    /// The `k` most probable classes from one row of logits, most probable first.
    pub fn top_k(&self, logits: &[f32], k: usize) -> Vec<Prediction> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        order.into_iter().take(k).map(|i| Prediction { index: i, label: self.label(i), prob: (exp[i] / sum) as f32, logit: logits[i] }).collect()
    }
}

/// Class names from a labels file: a JSON list of names, a JSON object from index to name
/// (`{"0": "tench", ...}`, as Keras and many repositories ship them), or one name per line
/// (blank lines at the end ignored).
pub fn parse_labels(text: &str) -> Result<Vec<String>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(Error::BadInput("the labels file is empty".into()));
    }
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| Error::BadInput(format!("the labels file looks like JSON but is not valid JSON: {e}")))?;
        return match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(Error::BadInput(format!("label {i} is {other}, not a string"))),
                })
                .collect(),
            serde_json::Value::Object(map) => {
                let mut pairs = vec![];
                for (k, v) in map {
                    let i: usize = k.trim().parse().map_err(|_| Error::BadInput(format!("the key `{k}` is not a class index")))?;
                    let name = match v {
                        serde_json::Value::String(s) => s,
                        // Keras' imagenet_class_index.json: {"0": ["n01440764", "tench"]}.
                        serde_json::Value::Array(a) => match a.last() {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            _ => return Err(Error::BadInput(format!("class {i}: no name in {a:?}"))),
                        },
                        other => return Err(Error::BadInput(format!("class {i} is {other}, not a name"))),
                    };
                    pairs.push((i, name));
                }
                pairs.sort();
                if pairs.iter().enumerate().any(|(j, (i, _))| *i != j) {
                    return Err(Error::BadInput("the class indices must run 0, 1, 2, ... without gaps".into()));
                }
                Ok(pairs.into_iter().map(|(_, n)| n).collect())
            }
            _ => unreachable!("starts with [ or {{"),
        };
    }
    Ok(trimmed.lines().map(|l| l.trim().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::tiny_file;
    use burn::tensor::Device;

    #[test]
    fn labels_come_from_lines_lists_and_index_objects() {
        assert_eq!(parse_labels("cat\ndog\n\n").unwrap(), vec!["cat", "dog"]);
        assert_eq!(parse_labels("[\"cat\", \"dog\"]").unwrap(), vec!["cat", "dog"]);
        assert_eq!(parse_labels("{\"1\": \"dog\", \"0\": \"cat\"}").unwrap(), vec!["cat", "dog"]);
        assert_eq!(parse_labels("{\"0\": [\"n01440764\", \"tench\"]}").unwrap(), vec!["tench"]);
        for (bad, says) in
            [("", "empty"), ("[1, 2]", "not a string"), ("{\"0\": \"a\", \"2\": \"b\"}", "gaps"), ("{\"x\": \"a\"}", "`x`"), ("[\"a\"", "not valid JSON")]
        {
            let e = parse_labels(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn top_k_is_sorted_softmax() {
        let model = Model::from_file(tiny_file(), &Device::flex()).unwrap();
        let top = model.top_k(&[1.0, 3.0], 2);
        assert_eq!(top[0].index, 1);
        assert_eq!(top[0].label, "b");
        let p = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((top[0].prob - p).abs() < 1e-6 && (top[1].prob - (1.0 - p)).abs() < 1e-6);
    }
}
