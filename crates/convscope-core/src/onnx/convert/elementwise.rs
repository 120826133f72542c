//! Elementwise ops: activations, Clip, PRelu, Add/Sub/Mul/Div/Pow/Max/Min, Identity and
//! Dropout.

use super::*;

pub(super) const OPS: &[(&str, Convert)] = &[
    ("Relu", |c, n| c.act(n, Activation::Relu)),
    ("Sigmoid", |c, n| c.act(n, Activation::Sigmoid)),
    ("Tanh", |c, n| c.act(n, Activation::Tanh)),
    ("HardSwish", |c, n| c.act(n, Activation::HardSwish)),
    ("LeakyRelu", |c, n| c.act(n, Activation::LeakyRelu { alpha: float(n, "alpha", 0.01) })),
    ("HardSigmoid", |c, n| c.act(n, Activation::HardSigmoid { alpha: float(n, "alpha", 0.2), beta: float(n, "beta", 0.5) })),
    ("Clip", |c, n| c.clip(n)),
    ("Elu", |c, n| c.act(n, Activation::Elu { alpha: float(n, "alpha", 1.0) })),
    ("Selu", |c, n| c.act(n, Activation::Selu { alpha: float(n, "alpha", 1.673_263_2), gamma: float(n, "gamma", 1.050_701) })),
    ("Softplus", |c, n| c.act(n, Activation::Softplus)),
    ("Gelu", |c, n| c.gelu(n)),
    ("Erf", |c, n| c.act(n, Activation::Erf)),
    ("Exp", |c, n| c.act(n, Activation::Exp)),
    ("Log", |c, n| c.act(n, Activation::Log)),
    ("Sqrt", |c, n| c.act(n, Activation::Sqrt)),
    ("Neg", |c, n| c.act(n, Activation::Neg)),
    ("Abs", |c, n| c.act(n, Activation::Abs)),
    ("Reciprocal", |c, n| c.act(n, Activation::Reciprocal)),
    ("PRelu", |c, n| c.prelu(n)),
    ("Pow", |c, n| c.arithmetic(n)),
    ("Max", |c, n| c.arithmetic(n)),
    ("Min", |c, n| c.arithmetic(n)),
    ("Add", |c, n| c.arithmetic(n)),
    ("Sub", |c, n| c.arithmetic(n)),
    ("Mul", |c, n| c.arithmetic(n)),
    ("Div", |c, n| c.arithmetic(n)),
    ("Dropout", |c, n| c.identity(n)),
    ("Identity", |c, n| c.identity(n)),
];

impl Converter<'_> {
    pub(super) fn act(&mut self, n: &NodeProto, a: Activation) -> Result<()> {
        let x = self.plain(n, 0)?;
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Act(Act(a)), vec![x.id])
    }

    pub(super) fn clip(&mut self, n: &NodeProto) -> Result<()> {
        let bound = |c: Option<&Constant>, default: f32| -> Result<f32> {
            match c {
                None => Ok(default),
                Some(c) if c.values.len() == 1 => Ok(c.values[0]),
                Some(c) => Err(err(n, format!("the bound must be one number, got shape {:?}", c.shape))),
            }
        };
        let (min, max) = if self.opset < 11 {
            (float(n, "min", f32::NEG_INFINITY), float(n, "max", f32::INFINITY))
        } else {
            (bound(self.constant(n, 1)?, f32::NEG_INFINITY)?, bound(self.constant(n, 2)?, f32::INFINITY)?)
        };
        if min.is_nan() || max.is_nan() {
            return Err(err(n, "a clip bound is not a number"));
        }
        let a = match (min, max) {
            (0.0, 6.0) => Activation::Relu6,
            (0.0, f32::INFINITY) => Activation::Relu,
            _ => Activation::Clip { min, max },
        };
        self.act(n, a)
    }

    /// Add/Sub/Mul/Div: of two computed values (broadcasting),
    /// or of a computed value and a per-channel (or single) constant, as an affine map.
    pub(super) fn arithmetic(&mut self, n: &NodeProto) -> Result<()> {
        let op = n.op_type.as_str();
        if n.input.len() != 2 {
            // Max and Min take any number of inputs.
            return Err(err(n, format!("has {} inputs; convscope computes it of two", n.input.len())));
        }
        let (a, b) = (n.input.first().cloned().unwrap_or_default(), n.input.get(1).cloned().unwrap_or_default());
        let (ra, rb) = (self.values.contains_key(&a), self.values.contains_key(&b));
        if ra && rb {
            let (x, y) = (self.plain(n, 0)?, self.plain(n, 1)?);
            let id = self.fresh_id(n);
            let kind = self.arith_kind(op);
            return self.push(n, id, OpSpec::Arith(Arith { kind, constant: None, constant_first: false }), vec![x.id, y.id]);
        }
        let (x, c, constant_first) = if ra {
            (self.plain(n, 0)?, self.required(n, 1, "operand")?.clone(), false)
        } else {
            (self.plain(n, 1)?, self.required(n, 0, "operand")?.clone(), true)
        };
        let channels = x.shape[0];
        // The constant, aligned right against [N, ...shape], may vary only along channels.
        let full = self.full(&x.shape);
        if c.shape.len() > full.len() {
            return Err(err(n, format!("the constant has shape {}, more dimensions than the value {}", short(&c.shape), self.shown(&x.shape))));
        }
        let offset = full.len() - c.shape.len();
        let mut per_channel = true;
        for (k, &d) in c.shape.iter().enumerate() {
            let axis = k + offset;
            if d != 1 && (axis != 1 || d != channels) {
                per_channel = false;
            }
        }
        let affine = matches!(op, "Add" | "Sub" | "Mul" | "Div");
        if !affine || !per_channel || !self.batched || self.integer || x.shape.len() != 3 || (op == "Div" && constant_first) {
            // Any other constant: elementwise with broadcasting.
            let shape = self.per_sample(n, &c, x.shape.len())?;
            let id = self.fresh_id(n);
            let w = self.weight(n, format!("{id}.constant"), shape, c.values)?;
            let kind = self.arith_kind(op);
            return self.push(n, id, OpSpec::Arith(Arith { kind, constant: Some(w), constant_first }), vec![x.id]);
        }
        let k: Vec<f32> = if c.values.len() == 1 { vec![c.values[0]; channels] } else { c.values.clone() };
        let (scale, shift): (Vec<f32>, Vec<f32>) = match (op, constant_first) {
            ("Add", _) => (vec![1.0; channels], k),
            ("Sub", false) => (vec![1.0; channels], k.iter().map(|v| -v).collect()),
            ("Sub", true) => (vec![-1.0; channels], k),
            ("Mul", _) => (k, vec![0.0; channels]),
            ("Div", false) => (k.iter().map(|v| 1.0 / v).collect(), vec![0.0; channels]),
            _ => return Err(err(n, "a constant divided by a value computed from the image is not supported")),
        };
        let id = self.fresh_id(n);
        let gamma = self.weight(n, format!("{id}.scale"), vec![channels], scale)?;
        let beta = self.weight(n, format!("{id}.shift"), vec![channels], shift)?;
        let mean = self.weight(n, format!("{id}.zero"), vec![channels], vec![0.0; channels])?;
        let var = self.weight(n, format!("{id}.one"), vec![channels], vec![1.0; channels])?;
        self.push(n, id, OpSpec::BatchNorm(BatchNorm { gamma, beta, mean, var, eps: 0.0 }), vec![x.id])
    }

    /// Identity, and Dropout at inference (its mask, when read, is all ones).
    pub(super) fn identity(&mut self, n: &NodeProto) -> Result<()> {
        if n.op_type == "Dropout" && self.opset >= 12 {
            let training = self.constant(n, 2)?.is_some_and(|c| c.values.iter().any(|v| *v != 0.0));
            let ratio = self.constant(n, 1)?.map_or(0.5, |c| c.values.first().copied().unwrap_or(0.5));
            if training && ratio > 0.0 {
                return Err(err(n, "training_mode=1 drops values at random; export the model in eval mode (model.eval())"));
            }
        }
        let v = self.value(n, 0)?;
        if let Some(mask) = n.output.get(1).filter(|m| n.op_type == "Dropout" && !m.is_empty()) {
            // Nothing is dropped: the mask is all ones.
            let id = self.unique(mask.clone());
            let w = self.weight(n, format!("{id}.value"), v.shape.clone(), vec![1.0; v.shape.iter().product()])?;
            self.push_as(n, id, OpSpec::Constant(ConstantOp { value: w }), vec![INPUT.into()], Some(mask.clone()))?;
        }
        self.alias(n, v);
        Ok(())
    }

    /// GELU (opset 20), exact or with tanh.
    pub(super) fn gelu(&mut self, n: &NodeProto) -> Result<()> {
        let tanh = match string(n, "approximate").as_str() {
            "" | "none" => false,
            "tanh" => true,
            other => return Err(err(n, format!("approximate `{other}` is not an ONNX value (none, tanh)"))),
        };
        self.act(n, Activation::Gelu { tanh })
    }

    /// PRelu with a constant slope (broadcast against the value).
    pub(super) fn prelu(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let slope = self.required(n, 1, "slope")?.clone();
        let shape = self.per_sample(n, &slope, x.shape.len())?;
        // The slope broadcasts to the value as numpy aligns shapes (PyTorch writes [C, 1, 1]).
        let id = self.fresh_id(n);
        let w = self.weight(n, format!("{id}.slope"), shape, slope.values)?;
        self.push(n, id, OpSpec::PRelu(PRelu { slope: w }), vec![x.id])
    }
}
