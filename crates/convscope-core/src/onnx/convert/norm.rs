//! Normalisations: BatchNormalization, LayerNormalization, Softmax.

use super::*;

pub(super) const OPS: &[(&str, Convert)] =
    &[("BatchNormalization", |c, n| c.batch_norm(n)), ("LayerNormalization", |c, n| c.layer_norm(n)), ("Softmax", |c, n| c.softmax(n))];

impl Converter<'_> {
    pub(super) fn batch_norm(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if int(n, "training_mode", 0) != 0 {
            return Err(err(n, "training_mode=1; export the model in eval mode (model.eval())"));
        }
        let names = ["scale", "bias", "mean", "var"];
        let mut tensors = vec![];
        for (k, what) in names.iter().enumerate() {
            tensors.push(self.required(n, k + 1, what)?.clone());
        }
        let id = self.fresh_id(n);
        let mut ws = vec![];
        for (t, what) in tensors.into_iter().zip(names) {
            ws.push(self.weight(n, format!("{id}.{what}"), vec![t.values.len()], t.values)?);
        }
        let eps = float(n, "epsilon", 1e-5) as f64;
        let [gamma, beta, mean, var] = <[String; 4]>::try_from(ws).expect("four tensors");
        self.push(n, id, OpSpec::BatchNorm(BatchNorm { gamma, beta, mean, var, eps }), vec![x.id])
    }

    pub(super) fn softmax(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let axis = self.axis(n, int(n, "axis", if self.opset < 13 { 1 } else { -1 }), rank)?;
        if self.opset < 13 && axis != rank - 1 {
            return Err(err(n, "before opset 13 a softmax not over the last axis runs over every axis from it on; only the last axis is supported"));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Softmax(Softmax { axis }), vec![x.id])
    }

    /// Normalised over the axes from `axis` on; scale and bias of those axes' size.
    pub(super) fn layer_norm(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let axis = self.axis(n, int(n, "axis", -1), rank)?;
        if int(n, "stash_type", 1) != 1 {
            return Err(err(n, "stash_type other than float32 is not supported"));
        }
        let inner: usize = x.shape[axis..].iter().product();
        let scale = self.required(n, 1, "scale")?.clone();
        let bias = self.constant(n, 2)?.cloned();
        let id = self.fresh_id(n);
        let fit = |c: &Constant, what: &str| -> Result<Vec<f32>> {
            match c.values.len() {
                1 => Ok(vec![c.values[0]; inner]),
                k if k == inner => Ok(c.values.clone()),
                _ => Err(err(n, format!("the {what} has shape {}; the normalised axes {} have {inner} values", short(&c.shape), short(&x.shape[axis..])))),
            }
        };
        let scale = self.weight(n, format!("{id}.scale"), vec![inner], fit(&scale, "scale")?)?;
        let bias = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![inner], fit(&b, "bias")?)?),
            None => None,
        };
        let op = OpSpec::LayerNorm(LayerNorm { axis, scale, bias, eps: float(n, "epsilon", 1e-5) });
        self.push(n, id, op, vec![x.id])
    }
}
