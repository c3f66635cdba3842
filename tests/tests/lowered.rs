//! The back half without rustc: every fixture lowered, planned and run by `exec` (the same
//! kernel calls the generated code makes) on every SIMD path this machine has, against
//! onnxruntime's reference output (max |diff| <= 1e-4 * max |ref| + 1e-6, same argmax); and at
//! batch 3, run layer by layer against run image by image.

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
        // Layers split over threads give the same result (rows, or in the blocks with few rows
        // hidden channels, split 2 and 3 ways).
        let g = f.clone();
        trials.push(Trial::test(format!("threads3::{}", f.name), move || run(&g, SimdLevel::Scalar, 3)));
        let (g, best) = (f.clone(), Cpu::detect().level());
        trials.push(Trial::test(format!("threads2::{}::{}", best.name(), f.name), move || run(&g, best, 2)));
        let g = f.clone();
        trials.push(Trial::test(format!("image_loop::{}", f.name), move || image_loop(&g)));
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

/// Batch 3 with every qualifying first step in the image loop (whatever their size) computes
/// what the batch computes layer by layer. Fixtures with a fixed batch are skipped.
fn image_loop(f: &Fixture) -> Result<(), Failed> {
    let mut options = f.options();
    options.shapes.input_shapes[0].dims[0] = 3;
    let Ok(fe) = frontend(&f.path, &options) else { return Ok(()) };
    let mut layered = lower::lower_with(&fe.optimized, 1, None, &Default::default()).map_err(|e| e.to_string())?;
    // (on 2 threads: the images' rows are split between them, not the images)
    let mut looped = lower::lower_with(&fe.optimized, 2, Some(0), &Default::default()).map_err(|e| e.to_string())?;
    let Some(lp) = looped.image_loop.clone() else {
        // Only a model whose first step is not per image (a layout copy) has no loop.
        let first = &layered.steps[0].kernel;
        return match first {
            lower::Kernel::Copy(_) => Ok(()),
            other => Err(format!("no image loop, first kernel {other:?}").into()),
        };
    };
    let x = f.input();
    let x = x.as_f32().unwrap();
    let batch: Vec<f32> =
        (0..3).flat_map(|k| x.iter().map(move |v| v * (1.0 - 0.2 * k as f32) + 0.01 * k as f32)).collect();
    let mut outs = Vec::new();
    for (prog, threads) in [(&mut layered, 1), (&mut looped, 2)] {
        let plan = plan::plan(prog).map_err(|e| e.to_string())?;
        outs.push(exec::run(prog, &plan, Cpu::detect(), &Threads::new(threads), &batch).map_err(|e| e.to_string())?);
    }
    let shape = layered.output_shape.clone();
    check_close(&Tensor::f32(shape.clone(), outs[1].clone()), &Tensor::f32(shape, outs[0].clone()), 1e-5, 1e-7, true)
        .map_err(|e| format!("{}: {} steps image by image vs layer by layer: {e}", f.name, lp.steps).into())
}
