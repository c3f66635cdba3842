//! Quantised models (../shared/models/int8.toml: Coral's pretrained MobileNetV2 in both TFLite
//! styles, onnxruntime-quantised QDQ and QOperator files) through the front half:
//!
//! - the interpreter's output on the optimised IR is within the manifest's tolerance of
//!   onnxruntime's, with the same argmax, and (the integer semantics being onnxruntime's) at
//!   least 99% of the output elements exactly equal; the count is printed;
//! - every pass keeps the output of the graph before it, except `quant_fusion`, which turns the
//!   float arithmetic between DequantizeLinear and QuantizeLinear into integer arithmetic, as
//!   onnxruntime does, and is held to the manifest's tolerance;
//! - no float convolution is left: every Conv became a QLinearConv;
//! - lowered to the 8-bit kernels and run by `exec` (the calls generated code makes) on every
//!   SIMD path this machine has (AVX-512 with and without VNNI), on 1 and 2 threads, and at
//!   batch 2, the output is exactly the interpreter's.

use libtest_mimic::{Arguments, Failed, Trial};
use mobilenet_compiler::ir::{Graph, Op, Tensor};
use mobilenet_compiler::passes::{self, PassReport};
use mobilenet_compiler::{Error, exec, frontend, import_file, interp, lower, plan};
use mobilenet_kernels::{Cpu, SimdLevel, Threads};
use mobilenet_tests::{Int8Fixture, argmax, check_close, exactly_equal, int8_fixtures, values};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for f in int8_fixtures().unwrap_or_default() {
        let name = f.name.clone();
        let g = f.clone();
        trials.push(Trial::test(format!("reference_output::{name}"), move || matches_reference(&g)));
        let g = f.clone();
        trials.push(Trial::test(format!("every_pass_keeps_the_output::{name}"), move || passes_keep_output(&g)));
        let g = f.clone();
        trials.push(Trial::test(format!("integer_convolutions::{name}"), move || integer_convolutions(&g)));
        for level in SimdLevel::ALL {
            for dot in [true, false] {
                if !dot && level != SimdLevel::Avx512 {
                    continue;
                }
                let g = f.clone();
                let path = format!("{}{}", level.name(), if dot { "" } else { "-no-vnni" });
                let cpu = Cpu::with_level(level).map(|c| if dot { c } else { c.without_int8_dot() });
                trials.push(
                    Trial::test(format!("lowered::{path}::{name}"), move || lowered(&g, cpu, 1, 1))
                        .with_ignored_flag(cpu.is_none()),
                );
            }
        }
        // The AVX2 level with the 256-bit dot product (AVX-VNNI, or its EVEX form here).
        let (g, cpu) = (f.clone(), Cpu::with_dot256());
        trials.push(
            Trial::test(format!("lowered::avx2-dot256::{name}"), move || lowered(&g, cpu, 1, 1))
                .with_ignored_flag(cpu.is_none()),
        );
        let (g, best) = (f.clone(), Cpu::detect());
        trials.push(Trial::test(format!("lowered::threads2::{}::{name}", best.level().name()), move || {
            lowered(&g, Some(best), 2, 1)
        }));
        let g = f.clone();
        trials.push(Trial::test(format!("lowered::batch2::{name}"), move || lowered(&g, Some(best), 1, 2)));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn fail(e: impl std::fmt::Display) -> Failed {
    Failed::from(e.to_string())
}

fn matches_reference(f: &Int8Fixture) -> Result<(), Failed> {
    let fe = frontend(&f.path, &f.options()).map_err(fail)?;
    mobilenet_compiler::ir::verify::verify(&fe.optimized, true).map_err(fail)?;
    let out = interp::run(&fe.optimized, &[f.input()]).map_err(fail)?;
    let reference = f.output();
    check_close(&out[0], &reference, f.rel, f.abs, true).map_err(|e| fail(format!("{}: {e}", f.name)))?;
    let top1 = argmax(&values(&out[0]));
    if top1 != f.top1 {
        return Err(fail(format!("top-1 {top1}, the manifest says {}", f.top1)));
    }
    let equal = exactly_equal(&out[0], &reference);
    let total = reference.len();
    eprintln!("{}: {equal} of {total} output elements exactly equal to onnxruntime's", f.name);
    if equal * 100 < total * 99 {
        return Err(fail(format!("only {equal} of {total} output elements equal onnxruntime's")));
    }
    Ok(())
}

fn passes_keep_output(f: &Int8Fixture) -> Result<(), Failed> {
    let options = f.options();
    let mut g = import_file(&f.path, &options).map_err(fail)?;
    let input = f.input();
    let mut previous: Option<Tensor> = None;
    let mut observer = |g: &Graph, report: &PassReport| -> Result<(), Error> {
        let out = interp::run(g, std::slice::from_ref(&input))?.remove(0);
        if let Some(p) = &previous {
            let (rel, abs) = if report.pass == "quant_fusion" { (f.rel, f.abs) } else { (1e-5, 1e-7) };
            check_close(&out, p, rel, abs, false)
                .map_err(|e| Error::internal(format!("pass '{}' changed the output: {e}", report.pass)))?;
        }
        previous = Some(out);
        Ok(())
    };
    passes::optimize(&mut g, &options, true, &mut observer).map_err(fail)?;
    Ok(())
}

fn integer_convolutions(f: &Int8Fixture) -> Result<(), Failed> {
    let fe = frontend(&f.path, &f.options()).map_err(fail)?;
    let g = &fe.optimized;
    let float_convs = g.dag.node_indices().filter(|&n| matches!(g.op(n), Op::Conv(_))).count();
    let int_convs = g.dag.node_indices().filter(|&n| matches!(g.op(n), Op::QConv(_))).count();
    if float_convs > 0 || int_convs == 0 {
        return Err(fail(format!("{float_convs} float and {int_convs} integer convolutions after optimisation")));
    }
    Ok(())
}

/// The lowered program, run by `exec`, gives exactly the interpreter's output.
fn lowered(f: &Int8Fixture, cpu: Option<Cpu>, threads: usize, batch: usize) -> Result<(), Failed> {
    let cpu = cpu.ok_or("SIMD path not supported here")?;
    let mut options = f.options();
    let x = f.input();
    let x = if batch == 1 {
        x
    } else {
        // The batch: the reference input, then its values reversed (a second, different image).
        if options.shapes.input_shapes.is_empty() || options.shapes.input_shapes[0].dims[0] != 1 {
            return Ok(());
        }
        options.shapes.input_shapes[0].dims[0] = batch;
        let mut shape = x.shape.clone();
        shape[0] = batch;
        let v = values(&x);
        let rev: Vec<f32> = v.iter().rev().copied().collect();
        let all: Vec<f32> = v.iter().chain(&rev).copied().collect();
        match x.as_i64() {
            Some(_) => Tensor::int(x.dtype, shape, all.iter().map(|&v| v as i64).collect()),
            None => Tensor::f32(shape, all),
        }
    };
    let fe = match frontend(&f.path, &options) {
        Ok(fe) => fe,
        // A model that fixes its batch at 1 (all but the V1 files) has no batch to test.
        Err(_) if batch > 1 => return Ok(()),
        Err(e) => return Err(fail(e)),
    };
    let want = interp::run(&fe.optimized, std::slice::from_ref(&x)).map_err(fail)?.remove(0);
    let mut prog = lower::lower(&fe.optimized, threads).map_err(fail)?;
    let plan = plan::plan(&mut prog).map_err(fail)?;
    let got = exec::run_tensor(&prog, &plan, cpu, &Threads::new(threads), &x).map_err(fail)?;
    let equal = exactly_equal(&got, &want);
    if got.dtype != want.dtype || got.shape != want.shape || equal != want.shape.iter().product::<usize>() {
        return Err(fail(format!(
            "{}: {equal} of {} output elements equal the interpreter's ({:?} {:?} vs {:?} {:?})",
            f.name,
            want.shape.iter().product::<usize>(),
            got.dtype,
            got.shape,
            want.dtype,
            want.shape
        )));
    }
    Ok(())
}
