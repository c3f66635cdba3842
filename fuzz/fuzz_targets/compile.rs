//! The whole compiler on arbitrary bytes: decode, import, optimise, lower, plan, generate and
//! format source. Any outcome but a panic (or a hang, or running out of memory) is fine.
//!
//!     cargo fuzz run compile fuzz/corpus/compile -- -dict=fuzz/onnx.dict -max_total_time=60

#![no_main]

use libfuzzer_sys::fuzz_target;
use mobilenet_compiler::compile::source_from_bytes;
use mobilenet_compiler::{Limits, Options};

fuzz_target!(|bytes: &[u8]| {
    // Smaller limits than the defaults keep every input fast; the limits themselves are what
    // is exercised when a mutation grows a dimension.
    let limits = Limits {
        max_tensor_elements: 1 << 20,
        max_total_weights: 1 << 22,
        max_nodes: 10_000,
        max_dim: 1 << 16,
        ..Limits::default()
    };
    let options = Options { limits, ..Options::default() };
    // Weights can be large; source is formatted only for small ones, to stay quick.
    let _ = source_from_bytes(bytes, &options, 1 << 16);
});
