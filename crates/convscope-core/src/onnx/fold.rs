//! Constant folding on the host: the shape arithmetic exporters leave in a graph
//! (`x.view(x.size(0), -1)`, `F.pad`'s pad list, a weight shared through `Identity`) is
//! computed once at import, so only the image's path runs on the device.

use onnx_protobuf::NodeProto;

use super::{
    attr::{int, ints},
    targets,
    tensor::Constant,
};

/// The ops folded when every input is a constant (`Shape` reads only the shape of a computed
/// value).
pub const FOLDED: &[&str] = &["Cast", "ConstantOfShape", "Gather", "Shape", "Slice"];

/// Values as f64 with whether they are integers.
fn data(c: &Constant) -> (Vec<f64>, bool) {
    if c.ints.len() == c.values.len() && !c.ints.is_empty() {
        (c.ints.iter().map(|&v| v as f64).collect(), true)
    } else {
        (c.values.iter().map(|&v| v as f64).collect(), false)
    }
}

fn make(shape: Vec<usize>, v: Vec<f64>, int: bool) -> Constant {
    Constant { shape, values: v.iter().map(|&x| x as f32).collect(), ints: if int { v.iter().map(|&x| x as i64).collect() } else { vec![] } }
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) { Ok(v as usize) } else { Err(format!("axis {a} is out of range for rank {rank}")) }
}

/// Folds `n` over constant inputs (`None` for an absent optional input). `shape_of` gives
/// `Shape`'s answer for a computed input (batch included).
pub fn fold(n: &NodeProto, ins: &[Option<&Constant>], shape_of: Option<Vec<usize>>) -> Result<Constant, String> {
    let need = |k: usize| ins.get(k).copied().flatten().ok_or_else(|| format!("input {k} is missing"));
    match n.op_type.as_str() {
        "Identity" | "Dropout" => Ok(need(0)?.clone()),
        "Shape" => {
            let s = shape_of.ok_or("needs a shape")?;
            let r = s.len() as i64;
            let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let (a, b) = (clampi(int(n, "start", 0)), clampi(int(n, "end", r)));
            let dims: Vec<f64> = s[a..b.max(a)].iter().map(|&d| d as f64).collect();
            Ok(make(vec![dims.len()], dims, true))
        }
        "Cast" => {
            let (v, _) = data(need(0)?);
            let to = int(n, "to", 1);
            let int = matches!(to, 2..=7 | 9 | 12 | 13);
            let v = if int { v.iter().map(|x| x.trunc()).collect() } else { v };
            Ok(make(need(0)?.shape.clone(), v, int))
        }
        "ConstantOfShape" => {
            let shape: Vec<usize> = need(0)?.ints.iter().map(|&d| d.max(0) as usize).collect();
            let value = n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
            let (fill, int) = match value {
                Some(t) => {
                    let c = super::tensor::constant(t).map_err(|e| e.to_string())?;
                    let (v, int) = data(&c);
                    (v.first().copied().unwrap_or(0.0), int)
                }
                None => (0.0, false),
            };
            let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
            // Shape arithmetic is small; a constant this large would only cost time.
            if count > 1 << 20 {
                return Err(format!("a constant of shape {shape:?} is too large"));
            }
            Ok(make(shape, vec![fill; count], int))
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            let (a, b) = (need(0)?, need(1)?);
            let ((x, ia), (y, ib)) = (data(a), data(b));
            let (shape, pairs): (Vec<usize>, Vec<(f64, f64)>) = if a.shape == b.shape {
                (a.shape.clone(), x.iter().copied().zip(y.iter().copied()).collect())
            } else if y.len() == 1 {
                (a.shape.clone(), x.iter().map(|&u| (u, y[0])).collect())
            } else if x.len() == 1 {
                (b.shape.clone(), y.iter().map(|&v| (x[0], v)).collect())
            } else {
                return Err(format!("shapes {:?} and {:?}: only equal shapes or a scalar are folded", a.shape, b.shape));
            };
            let int = ia && ib;
            let v = pairs
                .into_iter()
                .map(|(u, v)| match n.op_type.as_str() {
                    "Add" => u + v,
                    "Sub" => u - v,
                    "Mul" => u * v,
                    _ if int => targets::div_trunc(u, v),
                    _ => u / v,
                })
                .collect();
            Ok(make(shape, v, int))
        }
        "Concat" => {
            let parts: Vec<&Constant> = (0..ins.len()).map(need).collect::<Result<_, _>>()?;
            let rank = parts.first().ok_or("no inputs")?.shape.len();
            if rank == 0 {
                return Err("cannot concatenate scalars".into());
            }
            let ax = axis(int(n, "axis", 0), rank)?;
            let int = parts.iter().all(|p| data(p).1 || p.values.is_empty());
            let mut shape = parts[0].shape.clone();
            shape[ax] = parts.iter().map(|p| p.shape.get(ax).copied().unwrap_or(0)).sum();
            let outer: usize = shape[..ax].iter().product();
            let mut v = vec![];
            for o in 0..outer {
                for p in &parts {
                    if p.shape.len() != rank || p.shape[..ax] != shape[..ax] || p.shape[ax + 1..] != shape[ax + 1..] {
                        return Err(format!("shapes {:?} and {:?} do not concatenate on axis {ax}", parts[0].shape, p.shape));
                    }
                    let block: usize = p.shape[ax..].iter().product();
                    v.extend_from_slice(&data(p).0[o * block..(o + 1) * block]);
                }
            }
            Ok(make(shape, v, int))
        }
        "Reshape" => {
            let (c, target) = (need(0)?, &need(1)?.ints);
            let shape = targets::reshape(&c.shape, target, int(n, "allowzero", 0) != 0)?;
            Ok(Constant { shape, ..c.clone() })
        }
        "Squeeze" | "Unsqueeze" => {
            let c = need(0)?;
            let axes = ints(n, "axes").or_else(|| ins.get(1).copied().flatten().map(|a| a.ints.clone()));
            let shape =
                if n.op_type == "Squeeze" { targets::squeeze(&c.shape, axes.as_deref())? } else { targets::unsqueeze(&c.shape, &axes.unwrap_or_default())? };
            Ok(Constant { shape, ..c.clone() })
        }
        "Transpose" => {
            let c = need(0)?;
            let rank = c.shape.len();
            let perm: Vec<usize> = match ints(n, "perm") {
                Some(p) => p.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?,
                None => (0..rank).rev().collect(),
            };
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..rank).collect::<Vec<_>>() {
                return Err(format!("perm {perm:?} is not a permutation of {rank} axes"));
            }
            let shape: Vec<usize> = perm.iter().map(|&p| c.shape[p]).collect();
            let (src, int) = data(c);
            let (from, to) = (strides(&c.shape), strides(&shape));
            let mut v = vec![0.0; src.len()];
            for (i, slot) in v.iter_mut().enumerate() {
                let mut at = 0;
                for (k, &p) in perm.iter().enumerate() {
                    at += (i / to[k] % shape[k]) * from[p];
                }
                *slot = src[at];
            }
            Ok(make(shape, v, int))
        }
        "Slice" => {
            let c = need(0)?;
            let rank = c.shape.len();
            let (starts, ends) = (&need(1)?.ints, &need(2)?.ints);
            let axes: Vec<usize> = match ins.get(3).copied().flatten() {
                Some(a) => a.ints.iter().map(|&v| axis(v, rank)).collect::<Result<_, _>>()?,
                None => (0..starts.len()).map(|a| axis(a as i64, rank)).collect::<Result<_, _>>()?,
            };
            let steps: Vec<i64> = ins.get(4).copied().flatten().map_or(vec![1; starts.len()], |s| s.ints.clone());
            if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
                return Err("starts, ends, axes and steps must have the same length".into());
            }
            // Per axis, the source indices kept.
            let mut keep: Vec<Vec<usize>> = c.shape.iter().map(|&d| (0..d).collect()).collect();
            for (j, &ax) in axes.iter().enumerate() {
                let step = *steps.get(j).unwrap_or(&1);
                let end = *ends.get(j).ok_or("ends is shorter than starts")?;
                let idx = targets::slice(c.shape[ax], starts[j], end, step)?;
                keep[ax] = idx;
            }
            let shape: Vec<usize> = keep.iter().map(Vec::len).collect();
            let (src, int) = data(c);
            let from = strides(&c.shape);
            let to = strides(&shape);
            let count: usize = shape.iter().product();
            let v = (0..count)
                .map(|i| {
                    let at: usize = (0..rank).map(|k| keep[k][i / to[k] % shape[k]] * from[k]).sum();
                    src[at]
                })
                .collect();
            Ok(make(shape, v, int))
        }
        "Gather" => {
            let (c, idx) = (need(0)?, need(1)?);
            let rank = c.shape.len();
            if rank == 0 || idx.ints.len() != idx.values.len() {
                return Err("needs a tensor and integer indices".into());
            }
            let ax = axis(int(n, "axis", 0), rank)?;
            let d = c.shape[ax] as i64;
            let outer: usize = c.shape[..ax].iter().product();
            let inner: usize = c.shape[ax + 1..].iter().product();
            let (src, int) = data(c);
            let mut v = vec![];
            for o in 0..outer {
                for &i in &idx.ints {
                    let i = if i < 0 { i + d } else { i };
                    if !(0..d).contains(&i) {
                        return Err(format!("index {i} is out of range for {d}"));
                    }
                    let base = (o * c.shape[ax] + i as usize) * inner;
                    v.extend_from_slice(&src[base..base + inner]);
                }
            }
            let shape: Vec<usize> = c.shape[..ax].iter().chain(idx.shape.iter()).chain(c.shape[ax + 1..].iter()).copied().collect();
            Ok(make(shape, v, int))
        }
        op => Err(format!("`{op}` is not folded on constants")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str) -> NodeProto {
        NodeProto { op_type: op.into(), ..Default::default() }
    }

    fn ints(shape: &[usize], v: &[i64]) -> Constant {
        Constant { shape: shape.to_vec(), values: v.iter().map(|&x| x as f32).collect(), ints: v.to_vec() }
    }

    #[test]
    fn torch_pad_list_arithmetic_folds_to_onnx_pads() {
        // F.pad(x, (1, 2, 3, 4)) on a 4-D input: [1, 2, 3, 4] + four zeros, as [-1, 2],
        // reversed by a slice, transposed, flattened: ONNX's [0, 0, 3, 1, 0, 0, 4, 2].
        let zeros = fold(&node("ConstantOfShape"), &[Some(&ints(&[1], &[4]))], None).unwrap();
        assert_eq!(zeros.values, vec![0.0; 4]);
        let mut cat = node("Concat");
        cat.attribute.push(onnx_protobuf::AttributeProto { name: "axis".into(), i: 0, ..Default::default() });
        let all = fold(&cat, &[Some(&ints(&[4], &[1, 2, 3, 4])), Some(&Constant { ints: vec![0; 4], ..zeros })], None).unwrap();
        let pairs = fold(&node("Reshape"), &[Some(&all), Some(&ints(&[2], &[-1, 2]))], None).unwrap();
        assert_eq!(pairs.shape, vec![4, 2]);
        let rev = fold(
            &node("Slice"),
            &[Some(&pairs), Some(&ints(&[1], &[-1])), Some(&ints(&[1], &[i64::MIN + 1])), Some(&ints(&[1], &[0])), Some(&ints(&[1], &[-1]))],
            None,
        )
        .unwrap();
        assert_eq!(rev.ints, vec![0, 0, 0, 0, 3, 4, 1, 2]);
        let mut t = node("Transpose");
        t.attribute.push(onnx_protobuf::AttributeProto { name: "perm".into(), ints: vec![1, 0], ..Default::default() });
        let tr = fold(&t, &[Some(&rev)], None).unwrap();
        let flat = fold(&node("Reshape"), &[Some(&tr), Some(&ints(&[1], &[-1]))], None).unwrap();
        assert_eq!(flat.ints, vec![0, 0, 3, 1, 0, 0, 4, 2]);
    }

    #[test]
    fn shape_and_gather_give_the_batch_size() {
        let s = fold(&node("Shape"), &[], Some(vec![1, 512, 7, 7])).unwrap();
        assert_eq!(s.ints, vec![1, 512, 7, 7]);
        let g = fold(&node("Gather"), &[Some(&s), Some(&ints(&[], &[0]))], None).unwrap();
        assert_eq!((g.shape.clone(), g.ints.clone()), (vec![], vec![1]));
        let u = fold(&node("Unsqueeze"), &[Some(&g), Some(&ints(&[1], &[0]))], None).unwrap();
        assert_eq!(u.shape, vec![1]);
        let e = fold(&node("Gather"), &[Some(&s), Some(&ints(&[], &[9]))], None).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }
}
