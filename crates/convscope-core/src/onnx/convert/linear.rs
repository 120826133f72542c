//! Matrix products: Gemm, MatMul.

use super::*;

pub(super) const OPS: &[(&str, Convert)] = &[("Gemm", |c, n| c.gemm(n)), ("MatMul", |c, n| c.matmul(n))];

impl Converter<'_> {
    pub(super) fn flat(n: &NodeProto, v: &Runtime) -> Result<usize> {
        match v.shape.as_slice() {
            [f] => Ok(*f),
            s => Err(err(n, format!("needs flat features [N, F], got [N, {}]; flatten first", dims(s)))),
        }
    }

    pub(super) fn linear(&mut self, n: &NodeProto, x: Runtime, weight: Vec<f32>, out: usize, bias: Option<Vec<f32>>) -> Result<()> {
        let f = Self::flat(n, &x)?;
        if weight.len() != out * f {
            return Err(err(n, format!("the weight has {} values; {f} inputs to {out} outputs need {}", weight.len(), out * f)));
        }
        let id = self.fresh_id(n);
        let w = self.weight(n, format!("{id}.weight"), vec![out, f], weight)?;
        let b = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![out], b)?),
            None => None,
        };
        self.push(n, id, OpSpec::Linear(Linear { weight: w, bias: b }), vec![x.id])
    }

    pub(super) fn gemm(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if !self.batched {
            return self.gemm_matrix(n, x);
        }
        if int(n, "transA", 0) != 0 {
            return Err(err(n, "transA=1 transposes the batch of images; convscope computes each image on its own"));
        }
        let b = self.required(n, 1, "weight")?.clone();
        let (alpha, beta) = (float(n, "alpha", 1.0), float(n, "beta", 1.0));
        let [r, c] = match b.shape.as_slice() {
            [r, c] => [*r, *c],
            s => return Err(err(n, format!("the weight must be 2-D, got {s:?}"))),
        };
        // convscope's linear weight is [out, in]: B itself when transB=1, else B transposed.
        let (out, weight) = if int(n, "transB", 0) != 0 { (r, b.values.clone()) } else { (c, transpose(&b.values, r, c)) };
        let weight = weight.iter().map(|v| v * alpha).collect();
        let bias = match self.constant(n, 2)? {
            None => None,
            Some(c) if c.values.len() == out => Some(c.values.iter().map(|v| v * beta).collect()),
            Some(c) if c.values.len() == 1 => Some(vec![c.values[0] * beta; out]),
            Some(c) => return Err(err(n, format!("the bias has shape {:?}; one per output ({out}) is supported", c.shape))),
        };
        self.linear(n, x, weight, out, bias)
    }

    /// Gemm on one `[M, K]` matrix: (a transpose,) a product with the constant and the bias
    /// added (`alpha` and `beta` folded into the constants).
    pub(super) fn gemm_matrix(&mut self, n: &NodeProto, x: Runtime) -> Result<()> {
        if x.shape.len() != 2 {
            return Err(err(n, format!("needs a matrix, got {}", short(&x.shape))));
        }
        let b = self.required(n, 1, "weight")?.clone();
        let [r, c] = match b.shape.as_slice() {
            [r, c] => [*r, *c],
            s => return Err(err(n, format!("the weight must be 2-D, got {s:?}"))),
        };
        let (alpha, beta) = (float(n, "alpha", 1.0), float(n, "beta", 1.0));
        let (shape, values) = if int(n, "transB", 0) != 0 { (vec![c, r], transpose(&b.values, r, c)) } else { (vec![r, c], b.values.clone()) };
        let values = values.iter().map(|v| v * alpha).collect();
        let bias = self.constant(n, 2)?.cloned();
        let id = self.fresh_id(n);
        let mut a = x.id;
        if int(n, "transA", 0) != 0 {
            let t = self.unique(format!("{id}#transposed"));
            self.push_as(n, t.clone(), OpSpec::Transpose(Transpose { perm: vec![1, 0] }), vec![a], None)?;
            a = t;
        }
        let w = self.weight(n, format!("{id}.weight"), shape, values)?;
        let Some(bias) = bias else { return self.push(n, id, OpSpec::MatMul(MatMul { weight: w }), vec![a]) };
        let product = self.unique(format!("{id}#product"));
        self.push_as(n, product.clone(), OpSpec::MatMul(MatMul { weight: w }), vec![a], None)?;
        let shape = self.per_sample(n, &bias, 2)?;
        let bw = self.weight(n, format!("{id}.bias"), shape, bias.values.iter().map(|v| v * beta).collect())?;
        self.push(n, id, OpSpec::Arith(Arith { kind: ArithOp::Add, constant: Some(bw), constant_first: false }), vec![product])
    }

    /// A linear layer on features, or a (batched) matrix product of maps with a constant.
    pub(super) fn matmul(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let b = self.required(n, 1, "weight")?.clone();
        if let ([r, c], [_]) = (b.shape.as_slice(), x.shape.as_slice()) {
            let (r, c) = (*r, *c);
            return self.linear(n, x, transpose(&b.values, r, c), c, None);
        }
        // numpy's matmul: a 1-D operand gets an axis of 1 (before for the left, after for the
        // right), removed from the result.
        let mut shape = b.shape.clone();
        if self.batched && shape.len() == x.shape.len() + 1 && shape.len() > 2 {
            if shape[0] != 1 {
                return Err(err(n, format!("the constant {} varies along the batch axis", short(&b.shape))));
            }
            shape.remove(0);
        }
        let (left_vector, right_vector) = (x.shape.len() == 1, shape.len() == 1);
        if right_vector {
            shape.push(1);
        }
        if shape.is_empty() {
            return Err(err(n, "the constant is a scalar"));
        }
        let id = self.fresh_id(n);
        let mut a = x.id;
        if left_vector {
            let r = self.unique(format!("{id}#row"));
            self.push_as(n, r.clone(), OpSpec::Reshape(Reshape { shape: vec![1, x.shape[0]] }), vec![a], None)?;
            a = r;
        }
        let w = self.weight(n, format!("{id}.weight"), shape, b.values)?;
        if !left_vector && !right_vector {
            return self.push(n, id, OpSpec::MatMul(MatMul { weight: w }), vec![a]);
        }
        let product = self.unique(format!("{id}#product"));
        self.push_as(n, product.clone(), OpSpec::MatMul(MatMul { weight: w }), vec![a], None)?;
        let mut out = self.shapes[&product].clone();
        if right_vector {
            out.pop();
        }
        if left_vector {
            out.remove(out.len() - 1 - usize::from(!right_vector));
        }
        self.push(n, id, OpSpec::Reshape(Reshape { shape: out }), vec![product])
    }
}

pub(super) fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}
