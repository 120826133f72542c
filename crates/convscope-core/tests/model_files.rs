//! `.csm` files that the loader's fuzzer (`fuzz/fuzz_targets/csm_load.rs`, `./build.sh fuzz`)
//! found crashing it, kept as regressions: each is refused with a message that says what is
//! wrong, and none reaches the device.

mod common;

use burn::tensor::Device;
use convscope_core::Model;

#[test]
fn fuzzer_findings_are_refused_with_messages() {
    let dir = common::repo().join("tests/data/csm-fuzz");
    let cases = [
        // A dilation of 0: the shape check let it through and burn's convolution options
        // panicked ("dilation must be non-zero") as the graph was lowered.
        ("zero-dilation.csm", "kernel, stride and dilation must be at least 1, got kernel [3, 3], stride [2, 2], dilation [0, 1]"),
    ];
    for (file, says) in cases {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let e = Model::from_bytes(&bytes, &Device::flex()).err().unwrap_or_else(|| panic!("{file} was accepted")).to_string();
        assert!(e.contains(says), "{file}: {e}");
    }
    // Every finding kept has its case here.
    let kept = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(kept, cases.len(), "tests/data/csm-fuzz holds {kept} files, this test names {}", cases.len());
}
