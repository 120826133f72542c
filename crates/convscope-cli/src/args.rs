//! A small command-line parser: positional arguments and `--flag value` / `--switch`.

use std::collections::HashMap;

/// Parsed arguments of one subcommand.
pub struct Args {
    positional: Vec<String>,
    flags: HashMap<String, Option<String>>,
}

impl Args {
    /// Parse `raw`; `switches` are the flags that take no value.
    pub fn parse(raw: &[String], switches: &[&str]) -> Result<Self, String> {
        let mut positional = Vec::new();
        let mut flags = HashMap::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            // `-o DIR` is `--out DIR`.
            let a = if a == "-o" { &"--out".to_string() } else { a };
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                let value = if switches.contains(&name) {
                    None
                } else {
                    Some(match inline {
                        Some(v) => v,
                        None => it.next().cloned().ok_or_else(|| format!("--{name} needs a value"))?,
                    })
                };
                flags.insert(name.to_string(), value);
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Self { positional, flags })
    }

    /// Fail on flags outside `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        for f in self.flags.keys() {
            if !known.contains(&f.as_str()) {
                return Err(format!("unknown option --{f}; options here are: --{}", known.join(", --")));
            }
        }
        Ok(())
    }

    /// A flag's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.get(name).and_then(|v| v.as_deref())
    }

    /// A flag's value, required.
    pub fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("--{name} is required"))
    }

    /// A flag's value parsed as `T`, if given; the error names the flag and says what it
    /// needs (`what`, e.g. "a whole number").
    pub fn number<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, String> {
        self.get(name).map(|v| v.parse::<T>().map_err(|_| format!("--{name} needs {what}, not `{v}`"))).transpose()
    }

    /// Whether a switch was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// The positional arguments.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }
}
