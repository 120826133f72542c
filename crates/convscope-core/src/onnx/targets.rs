//! The shapes ONNX's shape ops ask for, computed in one place for the converters (values
//! computed from the image) and the constant folding (values known at import), so the two
//! cannot disagree.

use super::attr::short;

fn norm_axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) { Ok(v as usize) } else { Err(format!("axis {a} is out of range for {rank} axes")) }
}

/// `Reshape`'s output shape for an input of shape `from`: `-1` is inferred (once), `0`
/// copies the input's dimension unless `allow_zero` (then it is a dimension of 0).
pub(crate) fn reshape(from: &[usize], target: &[i64], allow_zero: bool) -> Result<Vec<usize>, String> {
    let total: usize = from.iter().product();
    let mut out = vec![];
    let mut infer = None;
    for (k, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(k);
                out.push(1);
            }
            0 if !allow_zero => out.push(*from.get(k).ok_or_else(|| format!("shape {}: 0 copies a dimension the input lacks", short(target)))?),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(format!("shape {} is not a valid target", short(target))),
        }
    }
    let product = |v: &[usize]| v.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if let Some(k) = infer {
        let rest = product(&out).unwrap_or(0);
        if rest == 0 || !total.is_multiple_of(rest) {
            return Err(format!("cannot reshape {} to {}", short(from), short(target)));
        }
        out[k] = total / rest;
    }
    if product(&out) != Some(total) {
        return Err(format!("cannot reshape {} to {}", short(from), short(target)));
    }
    Ok(out)
}

/// `Squeeze`'s output: the axes removed (each of size 1), or every axis of size 1 when none
/// are given.
pub(crate) fn squeeze(from: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>, String> {
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| norm_axis(v, from.len())).collect::<Result<_, _>>()?,
        None => (0..from.len()).filter(|&k| from[k] == 1).collect(),
    };
    if let Some(a) = axes.iter().find(|&&a| from[a] != 1) {
        return Err(format!("cannot squeeze axis {a} of {} (its size is not 1)", short(from)));
    }
    Ok(from.iter().enumerate().filter(|(k, _)| !axes.contains(k)).map(|(_, d)| *d).collect())
}

/// `Unsqueeze`'s output: axes of size 1 inserted at `axes` (of the output).
pub(crate) fn unsqueeze(from: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let rank = from.len() + axes.len();
    let mut at: Vec<usize> = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?;
    at.sort_unstable();
    if at.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("axes {} repeat an axis", short(axes)));
    }
    let mut out = from.to_vec();
    for a in at {
        out.insert(a, 1);
    }
    Ok(out)
}

/// `Slice`'s indices kept along one axis of size `size` (ONNX's clamping of `start` and
/// `end`, negative ones counted from the end; a negative step walks backwards).
pub(crate) fn slice(size: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>, String> {
    if step == 0 {
        return Err("a slice step of 0".into());
    }
    let d = size as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (norm(start), norm(end));
    let mut idx = vec![];
    if step > 0 {
        let (mut i, e) = (s.clamp(0, d), e.clamp(0, d));
        while i < e {
            idx.push(i as usize);
            i = i.saturating_add(step);
        }
    } else {
        let (mut i, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        while i > e {
            idx.push(i as usize);
            i = i.saturating_add(step);
        }
    }
    Ok(idx)
}

/// Integer division as ONNX and the runtime do it: rounded toward zero.
pub(crate) fn div_trunc(a: f64, b: f64) -> f64 {
    (a / b).trunc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_infers_copies_and_allows_zero() {
        assert_eq!(reshape(&[1, 512, 7, 7], &[1, -1], false).unwrap(), vec![1, 25088]);
        assert_eq!(reshape(&[1, 24, 56, 56], &[0, 2, 12, 56, 56], false).unwrap(), vec![1, 2, 12, 56, 56]);
        // With allowzero a 0 is a dimension of 0: only an empty input fits.
        assert!(reshape(&[2, 3], &[0, 6], true).is_err());
        assert_eq!(reshape(&[0, 3], &[3, 0], true).unwrap(), vec![3, 0]);
        let e = reshape(&[2, 3], &[4, -1], false).unwrap_err();
        assert!(e.contains("cannot reshape [2, 3] to [4, -1]"), "{e}");
        assert!(reshape(&[6], &[-1, -1], false).is_err());
    }

    #[test]
    fn squeeze_and_unsqueeze_check_their_axes() {
        assert_eq!(squeeze(&[1, 8, 1, 1], Some(&[2, 3])).unwrap(), vec![1, 8]);
        assert_eq!(squeeze(&[1, 8, 1, 1], None).unwrap(), vec![8]);
        assert!(squeeze(&[1, 8], Some(&[1])).unwrap_err().contains("not 1"));
        assert_eq!(unsqueeze(&[8], &[0, -1]).unwrap(), vec![1, 8, 1]);
        assert!(unsqueeze(&[8], &[1, 1]).is_err());
    }

    #[test]
    fn slices_clamp_and_walk_backwards() {
        assert_eq!(slice(5, 1, 3, 1).unwrap(), vec![1, 2]);
        assert_eq!(slice(5, -2, i64::MAX, 1).unwrap(), vec![3, 4]);
        assert_eq!(slice(5, 0, 5, 2).unwrap(), vec![0, 2, 4]);
        assert_eq!(slice(5, -1, i64::MIN, -2).unwrap(), vec![4, 2, 0]);
        assert!(slice(5, 0, 5, 0).is_err());
    }

    #[test]
    fn integer_division_rounds_toward_zero() {
        assert_eq!(div_trunc(-7.0, 2.0), -3.0);
        assert_eq!(div_trunc(7.0, -2.0), -3.0);
        assert_eq!(div_trunc(7.0, 2.0), 3.0);
    }
}
