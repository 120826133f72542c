//! Reductions over axes: ReduceMean, ReduceSum, ReduceMax, ReduceMin.

use super::*;

pub(super) const OPS: &[(&str, Convert)] = &[
    ("ReduceMean", |c, n| c.reduce(n, Reduction::Mean)),
    ("ReduceSum", |c, n| c.reduce(n, Reduction::Sum)),
    ("ReduceMax", |c, n| c.reduce(n, Reduction::Max)),
    ("ReduceMin", |c, n| c.reduce(n, Reduction::Min)),
];

impl Converter<'_> {
    /// A reduction over axes; the spatial mean is global average pooling.
    pub(super) fn reduce(&mut self, n: &NodeProto, func: Reduction) -> Result<()> {
        let x = self.plain(n, 0)?;
        let rank = x.shape.len();
        // The axes became an input at opset 13 for ReduceSum, at 18 for the others.
        let as_input = if func == Reduction::Sum { 13 } else { 18 };
        let axes = if self.opset < as_input { ints(n, "axes") } else { self.constant(n, 1)?.map(|c| c.ints.clone()) };
        let full = (rank + usize::from(self.batched)) as i64;
        let axes = match axes {
            Some(a) if !a.is_empty() => a,
            _ if self.opset >= as_input && int(n, "noop_with_empty_axes", 0) != 0 => {
                self.alias(n, x);
                return Ok(());
            }
            _ => (0..full).collect(),
        };
        let mut spatial: Vec<i64> = axes.iter().map(|a| if *a < 0 { a + full } else { *a }).collect();
        spatial.sort_unstable();
        if !(func == Reduction::Mean && self.batched && rank == 3 && spatial == [2, 3]) {
            let mut own: Vec<usize> = axes.iter().map(|&a| self.axis(n, a, rank)).collect::<Result<_>>()?;
            own.sort_unstable();
            own.dedup();
            let id = self.fresh_id(n);
            return self.push(n, id, OpSpec::Reduce(Reduce { func, axes: own, keep: int(n, "keepdims", 1) != 0 }), vec![x.id]);
        }
        let [_, h, w] = self.spatial(n, &x)?;
        let id = self.fresh_id(n);
        if int(n, "keepdims", 1) != 0 {
            let op = OpSpec::AvgPool2d(AvgPool2d::global(h, w));
            self.push(n, id, op, vec![x.id])
        } else {
            self.push(n, id, OpSpec::GlobalAvgPool(GlobalAvgPool {}), vec![x.id])
        }
    }
}
