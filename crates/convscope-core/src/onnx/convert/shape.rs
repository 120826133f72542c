//! Ops that move values around: Flatten, Reshape, Squeeze, Unsqueeze, Concat, Transpose,
//! Pad, Slice, Split, Gather.

use super::conv::add_pads;
use super::*;
use crate::onnx::targets;

pub(super) const OPS: &[(&str, Convert)] = &[
    ("Flatten", |c, n| c.flatten(n)),
    ("Reshape", |c, n| c.reshape(n)),
    ("Squeeze", |c, n| c.reshape(n)),
    ("Unsqueeze", |c, n| c.reshape(n)),
    ("Concat", |c, n| c.concat(n)),
    ("Transpose", |c, n| c.transpose(n)),
    ("Pad", |c, n| c.pad(n)),
    ("Slice", |c, n| c.slice(n)),
    ("Split", |c, n| c.split(n)),
    ("Gather", |c, n| c.gather(n)),
];

impl Converter<'_> {
    pub(super) fn flatten(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        if !self.batched {
            // One whole value: [A, B, C] at axis k is [A..k, k..C] as a matrix.
            let rank = x.shape.len();
            let axis = int(n, "axis", 1);
            let k = if axis < 0 { axis + rank as i64 } else { axis };
            if !(0..=rank as i64).contains(&k) {
                return Err(err(n, format!("axis {axis} of a value with {rank} axes")));
            }
            let (a, b) = x.shape.split_at(k as usize);
            let target = vec![a.iter().product(), b.iter().product()];
            let id = self.fresh_id(n);
            return self.push(n, id, OpSpec::Reshape(Reshape { shape: target }), vec![x.id]);
        }
        let rank = x.shape.len() as i64 + 1;
        let axis = int(n, "axis", 1);
        if axis != 1 && axis != 1 - rank {
            return Err(err(n, format!("only flattening after the batch (axis 1) is supported, got axis {axis}")));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Flatten(Flatten {}), vec![x.id])
    }

    /// Reshape, Squeeze and Unsqueeze: the batch stays first, the rest becomes `[C, H, W]`
    /// or `[F]`.
    pub(super) fn reshape(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let full = self.full(&x.shape);
        let total: usize = full.iter().product();
        let first = usize::from(self.batched);
        let target = match n.op_type.as_str() {
            "Reshape" => {
                let shape = self.required(n, 1, "shape")?.ints.clone();
                targets::reshape(&full, &shape, int(n, "allowzero", 0) != 0)
            }
            op => {
                let axes = if self.opset < 13 { ints(n, "axes") } else { self.constant(n, 1)?.map(|c| c.ints.clone()) };
                let rank = (full.len() + if op == "Squeeze" { 0 } else { axes.as_ref().map_or(0, Vec::len) }) as i64;
                if self.batched && axes.iter().flatten().any(|&a| a == 0 || a == -rank) {
                    return Err(err(n, "works along axis 0, the batch of images; convscope computes each image on its own"));
                }
                if op == "Squeeze" && axes.is_none() && self.batched {
                    // Every axis of size 1 but the batch.
                    targets::squeeze(&full[1..], None).map(|rest| std::iter::once(1).chain(rest).collect())
                } else if op == "Squeeze" {
                    targets::squeeze(&full, axes.as_deref())
                } else {
                    targets::unsqueeze(&full, &axes.ok_or_else(|| err(n, "the axes are missing"))?)
                }
            }
        }
        .map_err(|m| err(n, m))?;
        if target.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(total) || (self.batched && target.first() != Some(&1)) {
            // The batch (of one image) folded into one axis that only Gathers read: kept
            // for them (see `gather`).
            // Every reader a Gather (`readers` also counts the graph's outputs, `reader_ops` not).
            let out = n.output[0].as_str();
            let gathered = self.reader_ops.get(out).is_some_and(|ops| ops.iter().all(|&o| o == "Gather") && self.readers.get(out) == Some(&ops.len()));
            if self.batched && target == [total] && gathered {
                self.folded.insert(n.output[0].clone(), x);
                return Ok(());
            }
            return Err(err(n, format!("cannot reshape {} to {} keeping the batch first", short(&full), short(&target))));
        }
        let rest = target[first..].to_vec();
        if rest == x.shape {
            self.alias(n, x);
            return Ok(());
        }
        let id = self.fresh_id(n);
        let op = match rest.len() {
            1 => OpSpec::Flatten(Flatten {}),
            0..=4 => OpSpec::Reshape(Reshape { shape: rest }),
            _ => return Err(err(n, format!("gives {}; convscope's values have at most 4 axes besides the batch", short(&rest)))),
        };
        self.push(n, id, op, vec![x.id])
    }

    /// Concatenation of values and constants (as constant nodes) along one axis.
    pub(super) fn concat(&mut self, n: &NodeProto) -> Result<()> {
        let first = n.input.iter().position(|i| self.values.contains_key(i)).ok_or_else(|| err(n, "has no input computed from the image"))?;
        let rank = self.plain(n, first)?.shape.len();
        let axis = self.axis(n, int(n, "axis", 1), rank)?;
        let parts: Vec<Runtime> = (0..n.input.len()).map(|k| self.value_or_constant(n, k, rank)).collect::<Result<_>>()?;
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Concat(Concat { axis }), parts.into_iter().map(|p| p.id).collect())
    }

    pub(super) fn transpose(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let full = rank + usize::from(self.batched);
        let perm = ints(n, "perm").unwrap_or_else(|| (0..full as i64).rev().collect());
        let mut perm: Vec<usize> =
            perm.iter().map(|&p| if p < 0 { p + full as i64 } else { p }).filter(|&p| (0..full as i64).contains(&p)).map(|p| p as usize).collect();
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != (0..full).collect::<Vec<_>>() {
            return Err(err(n, format!("perm {} is not a permutation of {full} axes", short(&ints(n, "perm").unwrap_or_default()))));
        }
        if self.batched {
            if perm[0] != 0 {
                return Err(err(n, format!("perm {} moves the batch axis; convscope computes each image on its own", short(&perm))));
            }
            perm = perm[1..].iter().map(|p| p - 1).collect();
        }
        if perm.iter().enumerate().all(|(k, &p)| k == p) && perm.len() == rank {
            self.alias(n, x);
            return Ok(());
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Transpose(Transpose { perm }), vec![x.id])
    }

    /// Constant padding. A zero padding of height and width that one Conv or AveragePool
    /// reads is folded into it; any other is a padding node.
    pub(super) fn pad(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let full = rank + usize::from(self.batched);
        let mode = match string(n, "mode").as_str() {
            "" | "constant" => PadMode::Constant,
            "edge" => PadMode::Edge,
            "reflect" => PadMode::Reflect,
            "wrap" => PadMode::Wrap,
            other => return Err(err(n, format!("padding mode `{other}` is not an ONNX mode (constant, edge, reflect, wrap)"))),
        };
        let (pads, value, axes) = if self.opset < 11 {
            (ints(n, "pads").unwrap_or_default(), float(n, "value", 0.0), None)
        } else {
            let value = self.constant(n, 2)?.map_or(0.0, |c| c.values.first().copied().unwrap_or(0.0));
            let axes = self.constant(n, 3)?.map(|c| c.ints.clone());
            (self.required(n, 1, "pads")?.ints.clone(), value, axes)
        };
        let axes: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&v| if v < 0 { v + full as i64 } else { v })
                .map(|v| usize::try_from(v).ok().filter(|&v| v < full))
                .collect::<Option<_>>()
                .ok_or_else(|| err(n, format!("axes {} of a value with {full} axes", short(&a))))?,
            None => (0..full).collect(),
        };
        if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
            return Err(err(n, format!("pads {} must be two non-negative numbers per axis ({} axes)", short(&pads), axes.len())));
        }
        let mut per = vec![[0usize; 2]; full];
        for (k, &a) in axes.iter().enumerate() {
            per[a] = [pads[k] as usize, pads[k + axes.len()] as usize];
        }
        if self.batched {
            if per[0] != [0, 0] {
                return Err(err(n, "pads the batch axis; convscope computes each image on its own"));
            }
            per.remove(0);
        }
        let out = n.output[0].as_str();
        let readers = self.reader_ops.get(out).map(Vec::as_slice).unwrap_or_default();
        let folds = mode == PadMode::Constant && value == 0.0 && self.batched && rank == 3 && per[0] == [0, 0] && matches!(readers, ["Conv"] | ["AveragePool"]);
        if folds && self.readers.get(out).copied() == Some(1) {
            let p = [per[1], per[2]];
            let pad = Some(x.pad.map_or(p, |q| add_pads(q, p)));
            self.alias(n, Runtime { pad, ..x });
            return Ok(());
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Pad(Pad { pads: per, value, mode }), vec![x.id])
    }

    /// The value's axis for ONNX axis `a`, and whether it is the batch axis (allowed only
    /// where the op keeps the whole batch).
    fn own_axis(&self, n: &NodeProto, a: i64, rank: usize) -> Result<Option<usize>> {
        let full = (rank + usize::from(self.batched)) as i64;
        let k = if a < 0 { a + full } else { a };
        if self.batched && k == 0 {
            return Ok(None);
        }
        self.axis(n, a, rank).map(Some)
    }

    /// A value cut to ranges of its axes (positive steps).
    pub(super) fn slice(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let full = self.full(&x.shape);
        let (starts, ends, axes, steps) = if self.opset < 10 {
            let starts = ints(n, "starts").ok_or_else(|| err(n, "`starts` is missing"))?;
            (starts.clone(), ints(n, "ends").ok_or_else(|| err(n, "`ends` is missing"))?, ints(n, "axes"), None)
        } else {
            let starts = self.required(n, 1, "starts")?.ints.clone();
            let ends = self.required(n, 2, "ends")?.ints.clone();
            (starts, ends, self.constant(n, 3)?.map(|c| c.ints.clone()), self.constant(n, 4)?.map(|c| c.ints.clone()))
        };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(err(n, "starts, ends, axes and steps must have the same length"));
        }
        let mut ranges = vec![];
        for k in 0..starts.len() {
            let full_axis = (if axes[k] < 0 { axes[k] + full.len() as i64 } else { axes[k] }).clamp(0, full.len() as i64 - 1) as usize;
            let idx = targets::slice(full[full_axis], starts[k], ends[k], steps[k]).map_err(|m| err(n, m))?;
            let Some(axis) = self.own_axis(n, axes[k], rank)? else {
                if idx.len() == full[0] {
                    continue;
                }
                return Err(err(n, "cuts the batch axis; convscope computes each image on its own"));
            };
            if idx.is_empty() {
                return Err(err(n, format!("keeps nothing of axis {} (size {})", axes[k], full[full_axis])));
            }
            if steps[k] < 0 {
                return Err(err(n, "a negative step (reversing an axis of a value computed from the image) is not supported"));
            }
            let (first, last) = (idx[0], idx[idx.len() - 1]);
            if idx.len() == x.shape[axis] {
                continue;
            }
            ranges.push(Range { axis, start: first, end: last + 1, step: steps[k] as usize });
        }
        if ranges.is_empty() {
            self.alias(n, x);
            return Ok(());
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Slice(Slice { ranges }), vec![x.id])
    }

    /// Split into parts along an axis: one slice per output.
    pub(super) fn split(&mut self, n: &NodeProto) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let axis = self.axis(n, int(n, "axis", 0), rank)?;
        let size = x.shape[axis];
        let parts = n.output.len();
        let given = if self.opset < 13 { ints(n, "split") } else { self.constant(n, 1)?.map(|c| c.ints.clone()) };
        let sizes: Vec<usize> = match given {
            Some(v) if v.len() == parts && v.iter().all(|&s| s >= 0) && v.iter().sum::<i64>() == size as i64 => v.iter().map(|&s| s as usize).collect(),
            Some(v) => return Err(err(n, format!("split {} does not divide the axis of size {size} into {parts} parts", short(&v)))),
            // Equal parts, the last one smaller when the size does not divide (opset 18).
            None => {
                let each = size.div_ceil(parts.max(1));
                (0..parts).map(|k| each.min(size.saturating_sub(k * each))).collect()
            }
        };
        let base = self.fresh_id(n);
        let mut start = 0;
        for (k, (out, len)) in n.output.iter().zip(sizes).enumerate() {
            let range = Range { axis, start, end: start + len, step: 1 };
            start += len;
            if out.is_empty() {
                continue;
            }
            if len == 0 {
                return Err(err(n, format!("output {k} would be empty")));
            }
            let id = if k == 0 { base.clone() } else { self.unique(format!("{base}#{}", k + 1)) };
            self.push_as(n, id, OpSpec::Slice(Slice { ranges: vec![range] }), vec![x.id.clone()], Some(out.clone()))?;
        }
        Ok(())
    }

    /// Elements of one axis picked by constant indices (a 0-D index drops the axis).
    pub(super) fn gather(&mut self, n: &NodeProto) -> Result<()> {
        if let Some(x) = self.folded.get(&n.input[0]).cloned() {
            return self.gather_folded(n, x);
        }
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        let axis = self.axis(n, int(n, "axis", 0), rank)?;
        let idx = self.required(n, 1, "indices")?.clone();
        if idx.shape.len() > 1 || idx.ints.len() != idx.values.len() {
            return Err(err(n, format!("needs integer indices of at most one axis, got shape {}", short(&idx.shape))));
        }
        let size = x.shape[axis] as i64;
        let indices: Vec<usize> = idx
            .ints
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + size } else { i };
                if (0..size).contains(&j) { Ok(j as usize) } else { Err(err(n, format!("index {i} is out of range for an axis of size {size}"))) }
            })
            .collect::<Result<_>>()?;
        let drop = idx.shape.is_empty();
        if drop && rank == 1 {
            return Err(err(n, "would leave a single number per image; convscope's values keep at least one axis"));
        }
        let id = self.fresh_id(n);
        self.push(n, id, OpSpec::Gather(Gather { axis, indices, drop }), vec![x.id])
    }

    /// A Gather from `x` flattened with its batch of one image (indices `[1, ...]`: the batch
    /// comes back first): the image's values flattened, picked, and shaped as the indices.
    /// PyTorch's dynamo exporter writes `as_strided` this way, often as the identity.
    fn gather_folded(&mut self, n: &NodeProto, x: Runtime) -> Result<()> {
        let idx = self.required(n, 1, "indices")?.clone();
        let total: usize = x.shape.iter().product();
        if int(n, "axis", 0) != 0 || idx.shape.first() != Some(&1) || idx.ints.len() != idx.values.len() {
            return Err(err(
                n,
                format!(
                    "reads a value with the batch folded in; only integer indices on axis 0 with the batch first are supported, got shape {}",
                    short(&idx.shape)
                ),
            ));
        }
        let indices: Vec<usize> = idx
            .ints
            .iter()
            .map(|&i| {
                usize::try_from(if i < 0 { i + total as i64 } else { i })
                    .ok()
                    .filter(|&j| j < total)
                    .ok_or_else(|| err(n, format!("index {i} is out of range for {total} values")))
            })
            .collect::<Result<_>>()?;
        let rest = idx.shape[1..].to_vec();
        if rest == x.shape && indices.iter().enumerate().all(|(k, &i)| k == i) {
            self.alias(n, x);
            return Ok(());
        }
        if rest.is_empty() || rest.len() > 4 {
            return Err(err(n, format!("gives {} per image; convscope's values have 1 to 4 axes besides the batch", short(&rest))));
        }
        let base = self.fresh_id(n);
        let flat = self.unique(format!("{base}#flat"));
        self.push_as(n, flat.clone(), OpSpec::Flatten(Flatten {}), vec![x.id], None)?;
        if rest.len() == 1 {
            return self.push(n, base, OpSpec::Gather(Gather { axis: 0, indices, drop: false }), vec![flat]);
        }
        let picked = self.unique(format!("{base}#picked"));
        self.push_as(n, picked.clone(), OpSpec::Gather(Gather { axis: 0, indices, drop: false }), vec![flat], None)?;
        self.push(n, base, OpSpec::Reshape(Reshape { shape: rest }), vec![picked])
    }
}
