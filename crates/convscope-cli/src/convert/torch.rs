//! Read the state dict of a PyTorch zip checkpoint (`torch.save` since 1.6) without PyTorch:
//! a small pickle interpreter for the opcodes `torch.save` emits, storages read from the
//! archive, and tensors rebuilt from (storage, offset, size, stride).

use std::collections::HashMap;
use std::io::Read;

use convscope_core::tensor_data::HostTensor;

#[derive(Debug, Clone)]
enum Pv {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Pv>),
    List(Vec<Pv>),
    Dict(Vec<(Pv, Pv)>),
    Global(String),
    Mark,
    Storage { key: String, dtype: String },
    Tensor { key: String, dtype: String, offset: usize, size: Vec<usize>, stride: Vec<usize> },
    Opaque,
}

fn ints(v: &Pv) -> Result<Vec<usize>, String> {
    match v {
        Pv::Tuple(items) | Pv::List(items) => items
            .iter()
            .map(|i| match i {
                Pv::Int(n) if *n >= 0 => Ok(*n as usize),
                other => Err(format!("expected a size, got {other:?}")),
            })
            .collect(),
        other => Err(format!("expected a tuple of sizes, got {other:?}")),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self.b.get(self.at..self.at + n).ok_or("pickle ends early")?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn line(&mut self) -> Result<String, String> {
        let end = self.b[self.at..].iter().position(|&c| c == b'\n').ok_or("unterminated line")?;
        let s = String::from_utf8_lossy(&self.b[self.at..self.at + end]).into_owned();
        self.at += end + 1;
        Ok(s)
    }
}

fn unpickle(bytes: &[u8]) -> Result<Pv, String> {
    let mut r = Reader { b: bytes, at: 0 };
    let mut stack: Vec<Pv> = Vec::new();
    let mut memo: HashMap<u32, Pv> = HashMap::new();
    let pop = |s: &mut Vec<Pv>| s.pop().ok_or_else(|| "pickle stack underflow".to_string());
    let pop_mark = |s: &mut Vec<Pv>| -> Result<Vec<Pv>, String> {
        let at = s.iter().rposition(|v| matches!(v, Pv::Mark)).ok_or("no mark")?;
        let items = s.split_off(at + 1);
        s.pop();
        Ok(items)
    };
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?;
            }
            0x95 => {
                r.take(8)?;
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Pv::Global(format!("{module}.{name}")));
            }
            b'q' => {
                let k = r.u8()? as u32;
                memo.insert(k, stack.last().cloned().ok_or("memo of nothing")?);
            }
            b'r' => {
                let k = r.u32()?;
                memo.insert(k, stack.last().cloned().ok_or("memo of nothing")?);
            }
            0x94 => {
                let k = memo.len() as u32;
                memo.insert(k, stack.last().cloned().ok_or("memo of nothing")?);
            }
            b'h' => {
                let k = r.u8()? as u32;
                stack.push(memo.get(&k).cloned().ok_or("bad memo key")?);
            }
            b'j' => {
                let k = r.u32()?;
                stack.push(memo.get(&k).cloned().ok_or("bad memo key")?);
            }
            b')' => stack.push(Pv::Tuple(vec![])),
            b'}' => stack.push(Pv::Dict(vec![])),
            b']' => stack.push(Pv::List(vec![])),
            b'(' => stack.push(Pv::Mark),
            b'N' => stack.push(Pv::None),
            0x88 | 0x89 => stack.push(Pv::Bool),
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(Pv::Str(String::from_utf8_lossy(r.take(n)?).into_owned()));
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(Pv::Str(String::from_utf8_lossy(r.take(n)?).into_owned()));
            }
            b'J' => stack.push(Pv::Int(r.u32()? as i32 as i64)),
            b'K' => stack.push(Pv::Int(r.u8()? as i64)),
            b'M' => {
                let b = r.take(2)?;
                stack.push(Pv::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            0x8a => {
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                let mut v: i64 = 0;
                for (i, byte) in b.iter().enumerate().take(8) {
                    v |= (*byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Pv::Int(v));
            }
            b'G' => {
                r.take(8)?;
                stack.push(Pv::Float);
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Pv::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("tuple of missing items".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Pv::Tuple(items));
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                let Pv::Tuple(items) = pid else { return Err("persistent id is not a tuple".into()) };
                match items.as_slice() {
                    [Pv::Str(kind), Pv::Global(class), Pv::Str(key), ..] if kind == "storage" => {
                        stack.push(Pv::Storage { key: key.clone(), dtype: class.clone() })
                    }
                    other => return Err(format!("unknown persistent id {other:?}")),
                }
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                let value = match (&callable, &args) {
                    (Pv::Global(g), _) if g == "collections.OrderedDict" => Pv::Dict(vec![]),
                    (Pv::Global(g), Pv::Tuple(a)) if g == "torch._utils._rebuild_tensor_v2" => {
                        let (Some(Pv::Storage { key, dtype }), Some(Pv::Int(offset)), Some(size), Some(stride)) = (a.first(), a.get(1), a.get(2), a.get(3))
                        else {
                            return Err("unexpected _rebuild_tensor_v2 arguments".into());
                        };
                        Pv::Tensor { key: key.clone(), dtype: dtype.clone(), offset: *offset as usize, size: ints(size)?, stride: ints(stride)? }
                    }
                    _ => Pv::Opaque,
                };
                stack.push(value);
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                if let Some(Pv::Dict(d)) = stack.last_mut() {
                    d.push((k, v));
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Pv::Dict(d)) = stack.last_mut() {
                    for pair in items.chunks(2) {
                        if let [k, v] = pair {
                            d.push((k.clone(), v.clone()));
                        }
                    }
                }
            }
            b'a' => {
                let v = pop(&mut stack)?;
                if let Some(Pv::List(l)) = stack.last_mut() {
                    l.push(v);
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Pv::List(l)) = stack.last_mut() {
                    l.extend(items);
                }
            }
            b'b' => {
                pop(&mut stack)?;
            }
            b'.' => return pop(&mut stack),
            other => return Err(format!("unsupported pickle opcode 0x{other:02x} at byte {}", r.at - 1)),
        }
    }
}

/// The state dict of a zip-format PyTorch checkpoint, every tensor as contiguous f32.
pub fn read_state_dict(bytes: &[u8]) -> Result<HashMap<String, HostTensor>, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip checkpoint: {e}"))?;
    let pkl_name = zip.file_names().find(|n| n.ends_with("/data.pkl")).ok_or("no data.pkl in the archive")?.to_string();
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut read = |name: &str| -> Result<Vec<u8>, String> {
        let mut f = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let mut v = Vec::new();
        f.read_to_end(&mut v).map_err(|e| e.to_string())?;
        Ok(v)
    };
    let root = unpickle(&read(&pkl_name)?)?;
    let Pv::Dict(entries) = root else { return Err("the checkpoint is not a state dict".into()) };
    let mut out = HashMap::new();
    for (k, v) in entries {
        let (Pv::Str(name), Pv::Tensor { key, dtype, offset, size, stride }) = (k, v) else { continue };
        if dtype != "torch.FloatStorage" {
            return Err(format!("tensor `{name}` is {dtype}, only FloatStorage is supported"));
        }
        let raw = read(&format!("{prefix}data/{key}"))?;
        let storage: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
        let n: usize = size.iter().product();
        let mut data = Vec::with_capacity(n);
        for flat in 0..n {
            let mut rem = flat;
            let mut at = offset;
            for d in (0..size.len()).rev() {
                at += (rem % size[d]) * stride[d];
                rem /= size[d];
            }
            data.push(*storage.get(at).ok_or_else(|| format!("tensor `{name}` reads past its storage"))?);
        }
        out.insert(name, HostTensor::new(size, data).map_err(|e| e.to_string())?);
    }
    Ok(out)
}
