//! The back half without rustc: every fixture lowered, planned and run by `exec` (the same
//! kernel calls the generated code makes) on every SIMD path this machine has, against
//! onnxruntime's reference output (max |diff| <= 1e-4 * max |ref| + 1e-6, same argmax).

use libtest_mimic::{Arguments, Failed, Trial};
use mobilenet_compiler::ir::Tensor;
use mobilenet_compiler::{exec, frontend, lower, plan};
use mobilenet_kernels::{Cpu, SimdLevel, Threads};
use mobilenet_tests::{Fixture, all_fixtures, check_close};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for f in all_fixtures() {
        for level in SimdLevel::ALL {
            let f = f.clone();
            let name = format!("{}::{}", level.name(), f.name);
            trials.push(Trial::test(name, move || run(&f, level, 1)).with_ignored_flag(!level.is_supported()));
        }
        // Layers split over threads give the same result.
        let g = f.clone();
        trials.push(Trial::test(format!("threads3::{}", f.name), move || run(&g, SimdLevel::Scalar, 3)));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run(f: &Fixture, level: SimdLevel, threads: usize) -> Result<(), Failed> {
    let cpu = Cpu::with_level(level).ok_or("SIMD level not supported here")?;
    let fe = frontend(&f.path, &f.options()).map_err(|e| e.to_string())?;
    let mut prog = lower::lower(&fe.optimized, threads).map_err(|e| e.to_string())?;
    let plan = plan::plan(&mut prog).map_err(|e| e.to_string())?;
    let input = f.input();
    let pool = Threads::new(threads);
    let out = exec::run(&prog, &plan, cpu, &pool, input.as_f32().unwrap()).map_err(|e| e.to_string())?;
    let out = Tensor::f32(prog.output_shape.clone(), out);
    check_close(&out, &f.output(), 1e-4, 1e-6, true).map_err(|e| format!("{} on {}: {e}", f.name, level.name()))?;
    Ok(())
}
