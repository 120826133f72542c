//! Channel selections as users write them: `all`, `0..16`, `3,7,9`, `0..4,12`.

use crate::{Error, Result};

/// The channels `spec` names, in the order written, each checked against `count`.
/// `a..b` is half-open (`0..16` is sixteen channels), `a..=b` includes `b`.
pub fn parse_channels(spec: &str, count: usize) -> Result<Vec<usize>> {
    let bad = |why: String| Error::BadInput(format!("channels `{spec}`: {why}; write e.g. all, 0..16, 0..=15 or 3,7,9"));
    if spec.trim() == "all" {
        return Ok((0..count).collect());
    }
    let num = |s: &str| s.trim().parse::<usize>().map_err(|_| bad(format!("`{}` is not a channel number", s.trim())));
    let mut out = Vec::new();
    for part in spec.split(',') {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b) = match b.strip_prefix('=') {
                Some(b) => (num(a)?, num(b)? + 1),
                None => (num(a)?, num(b)?),
            };
            if a >= b {
                return Err(bad(format!("the range {} is empty", part.trim())));
            }
            out.extend(a..b);
        } else {
            out.push(num(part)?);
        }
    }
    if let Some(c) = out.iter().find(|&&c| c >= count) {
        return Err(bad(format!("channel {c} does not exist; this layer has {count} channels (0..{count})")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_lists_and_errors() {
        assert_eq!(parse_channels("all", 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_channels("0..4", 32).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_channels("0..=2, 9,5", 32).unwrap(), vec![0, 1, 2, 9, 5]);
        let e = parse_channels("0..40", 32).unwrap_err().to_string();
        assert!(e.contains("channel 32 does not exist") && e.contains("32 channels"), "{e}");
        assert!(parse_channels("4..4", 32).unwrap_err().to_string().contains("empty"));
        assert!(parse_channels("x", 32).unwrap_err().to_string().contains("`x` is not a channel number"));
    }
}
