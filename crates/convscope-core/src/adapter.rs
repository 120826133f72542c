//! The rule the page's "auto" backend follows. A WebGPU adapter that is a CPU emulating a GPU
//! (SwiftShader, llvmpipe, lavapipe, WARP) runs convscope about 20 times slower than the CPU
//! backend on the same machine (BENCHMARKS.md), so "auto" takes the CPU there; a person can
//! still force WebGPU.

use serde::Serialize;

/// What a browser says about its WebGPU adapter (`GPUAdapterInfo` and `isFallbackAdapter`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AdapterInfo {
    /// e.g. `nvidia`, `google`.
    pub vendor: String,
    /// e.g. `ampere`, `swiftshader`.
    pub architecture: String,
    /// The device, often empty.
    pub device: String,
    /// A longer description, often empty.
    pub description: String,
    /// The browser marks it a fallback adapter (software, or otherwise slow).
    pub fallback: bool,
}

/// Software rasterisers that stand in for a GPU: what their adapters say, and their names.
const SOFTWARE: [(&str, &str); 5] = [
    ("swiftshader", "SwiftShader"),
    ("llvmpipe", "llvmpipe"),
    ("lavapipe", "lavapipe"),
    ("softpipe", "softpipe"),
    ("microsoft basic render", "Microsoft's WARP"),
];

impl AdapterInfo {
    /// Why this adapter is a software one, in words (`None` for a hardware GPU).
    pub fn software(&self) -> Option<String> {
        let said = [&self.vendor, &self.architecture, &self.device, &self.description].map(|s| s.to_lowercase()).join(" ");
        if let Some((_, name)) = SOFTWARE.iter().find(|(key, _)| said.contains(key)) {
            return Some(format!("the WebGPU adapter is {name}, a CPU emulating a GPU"));
        }
        self.fallback.then(|| "the browser marks its WebGPU adapter as a fallback (software) one".to_string())
    }

    /// The adapter in a few words, e.g. `nvidia ampere`.
    pub fn describe(&self) -> String {
        let words: Vec<&str> = [&self.vendor, &self.architecture, &self.device].into_iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
        if words.is_empty() { "an unnamed adapter".into() } else { words.join(" ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(vendor: &str, architecture: &str, description: &str, fallback: bool) -> AdapterInfo {
        AdapterInfo { vendor: vendor.into(), architecture: architecture.into(), device: String::new(), description: description.into(), fallback }
    }

    #[test]
    fn software_adapters_are_told_from_gpus() {
        // Chromium's headless adapter, Mesa's on Linux, Windows' WARP.
        assert!(info("google", "swiftshader", "", false).software().unwrap().contains("SwiftShader"));
        assert!(info("mesa", "", "llvmpipe (LLVM 15.0.6, 256 bits)", false).software().unwrap().contains("llvmpipe"));
        assert!(info("microsoft", "", "Microsoft Basic Render Driver", false).software().unwrap().contains("WARP"));
        // Named nothing but flagged by the browser.
        assert!(info("", "", "", true).software().unwrap().contains("fallback"));
        // GPUs, including ones whose names say little.
        for gpu in [info("nvidia", "ampere", "", false), info("apple", "metal-3", "", false), info("intel", "gen-12lp", "", false), info("", "", "", false)] {
            assert_eq!(gpu.software(), None, "{gpu:?}");
        }
        assert_eq!(info("nvidia", "ampere", "", false).describe(), "nvidia ampere");
        assert_eq!(info("", "", "", false).describe(), "an unnamed adapter");
    }
}
