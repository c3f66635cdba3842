//! The whole compiler on arbitrary bytes: decode, import, optimise, lower, plan, generate and
//! format source. Any outcome but a panic (or a hang, or running out of memory) is fine.
//!
//!     cargo fuzz run compile fuzz/corpus/compile -- -dict=fuzz/onnx.dict -max_total_time=60

#![no_main]

use libfuzzer_sys::fuzz_target;
use mobilenet_compiler::codegen::{self, Weights};
use mobilenet_compiler::{Limits, Options, frontend_from_model, lower, onnx, plan};

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
    let Ok(model) = onnx::decode_model(bytes) else { return };
    let Ok(fe) = frontend_from_model(&model, None, &options) else { return };
    let Ok(mut program) = lower::lower(&fe.optimized, 2) else { return };
    let Ok(plan) = plan::plan(&mut program) else { return };
    let opts = codegen::Options {
        struct_name: "Fuzzed".into(),
        visibility: Default::default(),
        weights: Weights::Inline,
        comments: true,
        track_files: Vec::new(),
        description: String::new(),
    };
    // Weights can be large; format only what is small enough to be quick.
    if program.weights.len() < 1 << 16 {
        if let Ok(generated) = codegen::generate(&program, &plan, &opts) {
            let _ = codegen::to_source(&generated.tokens, &[]);
        }
    }
});
