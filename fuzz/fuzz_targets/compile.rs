//! The whole compiler on arbitrary bytes: decode, import, optimise, lower, plan, generate and
//! format source, then run the lowered program on every SIMD path as the generated code would
//! (a program the compiler accepts must never panic at run time). Any outcome but a panic (or a
//! hang, or running out of memory) is fine. Build with overflow checks (`-a`), as the macro runs:
//!
//!     cargo fuzz run -a --sanitizer none compile corpus/compile -- -dict=onnx.dict -max_total_time=60

#![no_main]

use libfuzzer_sys::fuzz_target;
use mobilenet_compiler::compile::source_from_bytes;
use mobilenet_compiler::{Limits, Options, exec, frontend_from_model, lower, onnx, plan};
use mobilenet_kernels::{Cpu, SimdLevel, Threads};

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
    if source_from_bytes(bytes, &options, 1 << 16).is_err() {
        return;
    }
    // Accepted: run it (small programs only), on every path this CPU has.
    let Ok(model) = onnx::decode_model(bytes, &options.limits) else { return };
    let Ok(fe) = frontend_from_model(&model, None, &options) else { return };
    let Ok(mut program) = lower::lower(&fe.optimized, 1) else { return };
    let Ok(plan) = plan::plan(&mut program) else { return };
    if program.input_len() > 1 << 16 || plan.arena_len > 1 << 20 || program.weights.len() > 1 << 16 {
        return;
    }
    // The input the program takes (f32, or the bytes of an 8-bit model).
    let input = exec::constant_input(&program);
    for cpu in SimdLevel::ALL.into_iter().filter_map(Cpu::with_level) {
        for cpu in [cpu, cpu.without_int8_dot()] {
            let _ = exec::run_tensor(&program, &plan, cpu, &Threads::single(), &input);
        }
    }
});
