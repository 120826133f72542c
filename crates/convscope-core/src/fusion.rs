//! burn's operation fusion: compiled out, and turned off where a build compiles it in.
//!
//! With burn 0.22.1's fusion on the cubecl backend (wgpu natively, WebGPU in the page), some
//! backward passes come out wrong: the input gradient through sigmoid or exp (ops whose
//! backward reads their own output) then a pooling, or a convolution and ReLU, differs from the
//! CPU's by about its own size; the forward passes are right. The same ops run one by one
//! (fusion's own unfused path) give the CPU's gradient to 1e-9. The reductions to plain burn
//! ops are `tests/fusion.rs`. So every view that takes a gradient (patterns,
//! saliency, Grad-CAM's family, Integrated Gradients) was exposed, not only the patterns'
//! objectives where it was found.
//!
//! So no build compiles burn's fusion in (the `fusion` feature of this crate, off, exists to
//! check a newer burn), which also keeps its code out of the wasm. Where it is compiled in,
//! [`turn_off`], called before every GPU device is made, sets fusion's exploration cap to zero
//! (`max_explorations`, the setting behind `BURN_FUSION_MAX_EXPLORATIONS=0`): every segment of
//! operations then runs unfused, which is what fixed the gradients first. Its cost, and the
//! build without fusion against the build with it, are in BENCHMARKS.md.

use burn_std::{
    config::{BurnConfig, RuntimeConfig},
    sync::Arc,
};

/// Turn burn's operation fusion off for the GPU devices created after this call (fusion reads
/// its setting when a device's first stream starts), in a build with the `fusion` feature; a
/// setting nothing reads otherwise. Idempotent; the CPU backend is not fused.
pub fn turn_off() {
    let current = BurnConfig::get();
    let mut config = serde_json::to_value(&*current).expect("burn's configuration serializes");
    if config["fusion"]["beam_search"]["max_explorations"] == 0 {
        return;
    }
    config["fusion"]["beam_search"]["max_explorations"] = 0.into();
    let config: BurnConfig = serde_json::from_value(config).expect("burn's configuration deserializes");
    *BurnConfig::storage().lock() = Some(Arc::new(config));
}
