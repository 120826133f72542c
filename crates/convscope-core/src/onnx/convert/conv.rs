//! Convolutions: Conv, ConvTranspose (1-D ones as 2-D of one row).

use super::*;

pub(super) const OPS: &[(&str, Convert)] = &[("Conv", |c, n| c.conv(n)), ("ConvTranspose", |c, n| c.conv_transpose(n))];

impl Converter<'_> {
    /// Explicit or automatic padding of a window op, `[[top, bottom], [left, right]]`.
    pub(super) fn window_padding(&self, n: &NodeProto, hw: [usize; 2], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]) -> Result<Padding2d> {
        let p = window_pads(n, &hw, &kernel, &stride, &dilation)?;
        Ok([p[0], p[1]])
    }

    pub(super) fn conv(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.value(n, 0)?;
        let [_, h, w] = self.spatial(n, &x)?;
        let k = self.required(n, 1, "kernel")?.clone();
        let [o, i, kh, kw] = match k.shape.as_slice() {
            [o, i, kh, kw] => [*o, *i, *kh, *kw],
            s => return Err(err(n, format!("only 2-D convolutions are supported; the kernel has shape {s:?}"))),
        };
        let bias = self.constant(n, 2)?.cloned();
        let stride = pair(n, "strides", ints(n, "strides"), 1)?;
        let dilation = pair(n, "dilations", ints(n, "dilations"), 1)?;
        let groups = int(n, "group", 1);
        if groups < 1 {
            return Err(err(n, format!("group must be positive, got {groups}")));
        }
        if let Some(ks) = ints(n, "kernel_shape")
            && ks != [kh as i64, kw as i64]
        {
            return Err(err(n, format!("kernel_shape {} disagrees with the kernel's {kh}x{kw}", short(&ks))));
        }
        let mut padding = self.window_padding(n, [h, w], [kh, kw], stride, dilation)?;
        if let Some(p) = x.pad {
            padding = add_pads(padding, p);
        }
        let id = self.fresh_id(n);
        let wname = self.weight(n, format!("{id}.weight"), vec![o, i, kh, kw], k.values)?;
        let bname = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![b.values.len()], b.values)?),
            None => None,
        };
        let op = OpSpec::Conv2d(Conv2d { weight: wname, bias: bname, stride, padding, dilation, groups: groups as usize, act: None });
        self.push(n, id, op, vec![x.id])
    }

    /// A 2-D transposed convolution: pads, output_padding, output_shape and auto_pad become
    /// the window of the full result that the output is.
    pub(super) fn conv_transpose(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let [c, h, w] = self.spatial(n, &x)?;
        let k = self.required(n, 1, "kernel")?.clone();
        let [ci, og, kh, kw] = match k.shape.as_slice() {
            [a, b, c, d] => [*a, *b, *c, *d],
            s => return Err(err(n, format!("only 2-D transposed convolutions are supported; the kernel has shape {s:?}"))),
        };
        if ci != c {
            return Err(err(n, format!("the kernel {:?} is for {ci} input channels, the value has {c}", k.shape)));
        }
        let bias = self.constant(n, 2)?.cloned();
        let stride = pair(n, "strides", ints(n, "strides"), 1)?;
        let dilation = pair(n, "dilations", ints(n, "dilations"), 1)?;
        let groups = int(n, "group", 1);
        if groups < 1 || c % groups as usize != 0 {
            return Err(err(n, format!("group {groups} does not divide {c} channels")));
        }
        let extra = match ints(n, "output_padding").as_deref() {
            None => [0, 0],
            Some([a, b]) if *a >= 0 && *b >= 0 => [*a, *b],
            Some(v) => return Err(err(n, format!("`output_padding` must be two non-negative numbers, got {}", short(v)))),
        };
        let input = [h as i64, w as i64];
        let kernel = [kh as i64, kw as i64];
        let span = |a: usize| (input[a] - 1) * stride[a] as i64 + (kernel[a] - 1) * dilation[a] as i64 + 1;
        let auto = string(n, "auto_pad");
        let wanted = match ints(n, "output_shape") {
            Some(v) if v.len() >= 2 => Some([v[v.len() - 2], v[v.len() - 1]]),
            Some(v) => return Err(err(n, format!("`output_shape` {} is not 2-D", short(&v)))),
            None if auto == "SAME_UPPER" || auto == "SAME_LOWER" => Some([input[0] * stride[0] as i64, input[1] * stride[1] as i64]),
            None => None,
        };
        let (begin, size) = match wanted {
            Some(out) => {
                let mut begin = [0; 2];
                for a in 0..2 {
                    let total = span(a) + extra[a] - out[a];
                    // ONNX's reference floors (a larger output_shape adds zeros at the end).
                    let half = total.div_euclid(2);
                    begin[a] = if auto == "SAME_UPPER" { half } else { total - half };
                }
                (begin, out)
            }
            None => {
                let pads = match ints(n, "pads").as_deref() {
                    None => [0; 4],
                    Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| **p >= 0) => [*t, *l, *b, *r],
                    Some(p) => return Err(err(n, format!("`pads` must be 4 non-negative numbers (2-D), got {}", short(p)))),
                };
                ([pads[0], pads[1]], [span(0) + extra[0] - pads[0] - pads[2], span(1) + extra[1] - pads[1] - pads[3]])
            }
        };
        if size.iter().any(|&s| s < 1) {
            return Err(err(n, format!("the output would be {}x{}", size[0], size[1])));
        }
        let id = self.fresh_id(n);
        let wname = self.weight(n, format!("{id}.weight"), vec![ci, og, kh, kw], k.values)?;
        let bname = match bias {
            Some(b) => Some(self.weight(n, format!("{id}.bias"), vec![b.values.len()], b.values)?),
            None => None,
        };
        let op = OpSpec::ConvTranspose2d(ConvTranspose2d {
            weight: wname,
            bias: bname,
            stride,
            dilation,
            groups: groups as usize,
            begin,
            size: [size[0] as usize, size[1] as usize],
        });
        self.push(n, id, op, vec![x.id])
    }

    /// A 1-D convolution or pooling of `[C, L]`: the same 2-D op on `[C, 1, L]`, its window
    /// `1 x k`, between two reshapes.
    pub(super) fn window_1d(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let (c, l) = (x.shape[0], x.shape[1]);
        let id = self.fresh_id(n);
        let lifted = self.unique(format!("{id}#lifted"));
        self.push_as(n, lifted.clone(), OpSpec::Reshape(Reshape { shape: vec![c, 1, l] }), vec![x.id], None)?;
        let mut m = n.clone();
        m.name = format!("{id}#2d");
        m.input[0] = format!("{}#2d", n.input[0]);
        m.output = vec![format!("{}#2d", n.output[0])];
        self.values.insert(m.input[0].clone(), Runtime { id: lifted, shape: vec![c, 1, l], pad: None });
        if let Some(k) = self.constant(n, 1)?.cloned() {
            let mut shape = k.shape.clone();
            if shape.len() != 3 {
                return Err(err(n, format!("a 1-D kernel must have 3 axes, got {}", short(&shape))));
            }
            shape.insert(2, 1);
            m.input[1] = format!("{}#2d", n.input[1]);
            self.constants.insert(m.input[1].clone(), Constant { shape, ..k });
        }
        for a in &mut m.attribute {
            a.ints = match (a.name.as_str(), a.ints.as_slice()) {
                ("kernel_shape" | "strides" | "dilations" | "output_shape", [v]) => vec![1, *v],
                ("output_padding", [v]) => vec![0, *v],
                ("pads", [b, e]) => vec![0, *b, 0, *e],
                (_, v) => v.to_vec(),
            };
        }
        self.node(&m)?;
        let y = self.values[&format!("{}#2d", n.output[0])].clone();
        self.push(n, id, OpSpec::Reshape(Reshape { shape: vec![y.shape[0], y.shape[2]] }), vec![y.id])
    }
}

/// A window op's explicit or automatic padding, `[before, after]` per spatial axis (ONNX's
/// `pads` list all befores, then all afters).
pub(super) fn window_pads(n: &NodeProto, size: &[usize], kernel: &[usize], stride: &[usize], dilation: &[usize]) -> Result<Vec<[usize; 2]>> {
    let axes = size.len();
    let auto = string(n, "auto_pad");
    match auto.as_str() {
        "" | "NOTSET" => match ints(n, "pads") {
            None => Ok(vec![[0, 0]; axes]),
            Some(p) if p.len() == 2 * axes && p.iter().all(|v| *v >= 0) => Ok((0..axes).map(|a| [p[a] as usize, p[a + axes] as usize]).collect()),
            Some(p) => Err(err(n, format!("`pads` must be {} non-negative numbers ({axes}-D), got {}", 2 * axes, short(&p)))),
        },
        "VALID" => Ok(vec![[0, 0]; axes]),
        "SAME_UPPER" | "SAME_LOWER" => Ok((0..axes)
            .map(|a| {
                let span = dilation[a] * (kernel[a] - 1) + 1;
                let total = ((size[a].div_ceil(stride[a]) - 1) * stride[a] + span).saturating_sub(size[a]);
                let small = total / 2;
                if auto == "SAME_UPPER" { [small, total - small] } else { [total - small, small] }
            })
            .collect()),
        other => Err(err(n, format!("auto_pad `{other}` is not an ONNX value"))),
    }
}

pub(super) fn add_pads(a: Padding2d, b: Padding2d) -> Padding2d {
    [[a[0][0] + b[0][0], a[0][1] + b[0][1]], [a[1][0] + b[1][0], a[1][1] + b[1][1]]]
}
