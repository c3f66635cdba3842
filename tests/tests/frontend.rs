//! The front half on every fixture: import, optimise, verify, interpret.
//!
//! - the interpreter's output on the optimised IR matches onnxruntime's reference output
//!   (max |diff| <= 1e-4 * max |ref| + 1e-6, same argmax);
//! - every pass keeps the output of the graph before it (1e-5 * max |ref| + 1e-7);
//! - the fusions the issue asks for happened.
//!
//! One test per fixture (libtest-mimic), so they run in parallel and fail by name.

use libtest_mimic::{Arguments, Failed, Trial};
use mobilenet_compiler::ir::{Graph, Op};
use mobilenet_compiler::passes::{self, PassReport};
use mobilenet_compiler::{Error, frontend, import_file, interp, stats};
use mobilenet_tests::{Fixture, all_fixtures, check_close};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for f in all_fixtures() {
        let name = f.name.clone();
        let g = f.clone();
        trials.push(Trial::test(format!("reference_output::{name}"), move || matches_reference(&g)));
        let g = f.clone();
        trials.push(Trial::test(format!("every_pass_keeps_the_output::{name}"), move || passes_keep_output(&g)));
        let g = f.clone();
        trials.push(Trial::test(format!("expected_fusions::{name}"), move || expected_fusions(&g)));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn fail(e: impl std::fmt::Display) -> Failed {
    Failed::from(e.to_string())
}

fn matches_reference(f: &Fixture) -> Result<(), Failed> {
    let fe = frontend(&f.path, &f.options()).map_err(fail)?;
    mobilenet_compiler::ir::verify::verify(&fe.optimized, true).map_err(fail)?;
    let out = interp::run(&fe.optimized, &[f.input()]).map_err(fail)?;
    check_close(&out[0], &f.output(), 1e-4, 1e-6, true).map_err(|e| fail(format!("{}: {e}", f.name)))?;
    let top1 = mobilenet_tests::argmax(out[0].as_f32().unwrap_or_default());
    if top1 != f.top1 {
        return Err(fail(format!("top-1 {top1}, the manifest says {}", f.top1)));
    }
    Ok(())
}

/// Runs the interpreter after every pass and compares with the graph right after shape
/// inference (the first point where the graph is typed).
fn passes_keep_output(f: &Fixture) -> Result<(), Failed> {
    let options = f.options();
    let mut g = import_file(&f.path, &options).map_err(fail)?;
    let input = f.input();
    let mut baseline = None;
    let mut observer = |g: &Graph, report: &PassReport| -> Result<(), Error> {
        let out = interp::run(g, std::slice::from_ref(&input))?;
        match &baseline {
            None => baseline = Some(out[0].clone()),
            Some(b) => check_close(&out[0], b, 1e-5, 1e-7, false)
                .map_err(|e| Error::internal(format!("pass '{}' changed the output: {e}", report.pass)))?,
        }
        Ok(())
    };
    passes::optimize(&mut g, &options, true, &mut observer).map_err(fail)?;
    Ok(())
}

/// What must be gone after optimisation, by exporter.
fn expected_fusions(f: &Fixture) -> Result<(), Failed> {
    let fe = frontend(&f.path, &f.options()).map_err(fail)?;
    let s = stats::compute(&fe).map_err(fail)?;
    let g = &fe.optimized;
    let left = |op: &str| s.ops_optimized.get(op).copied().unwrap_or(0);
    let is_torch_v2 = f.name.starts_with("mobilenet_v2") || f.name.starts_with("torch_v2_like");
    if is_torch_v2 {
        for op in ["BatchNormalization", "Clip", "Relu", "Add"] {
            if left(op) > 0 {
                return Err(fail(format!("{} standalone {op} node(s) left after optimisation", left(op))));
            }
        }
    }
    let is_keras_or_paddle = f.producer.starts_with("tf2onnx") || f.producer.starts_with("PaddlePaddle");
    if is_keras_or_paddle {
        // No channel affine (Mul/Add by a constant) and no spelled-out hard-swish may remain.
        for n in g.dag.node_indices() {
            let constant_operand = g.operands(n).iter().any(|&o| g.constant(o).is_some());
            let leftover = match g.op(n) {
                Op::Binary(_) if constant_operand => true,
                Op::Activation(a) => !matches!(a, mobilenet_compiler::ir::Activation::Sigmoid),
                Op::BatchNorm { .. } | Op::Pad { .. } => true,
                _ => false,
            };
            if leftover {
                return Err(fail(format!("{} left after optimisation: {:?}", g.op(n), g.node(n).origin)));
            }
        }
    }
    // Every convolution carries its activation in its epilogue: no activation node may follow a
    // single-use Conv.
    for n in g.dag.node_indices() {
        if let (Op::Activation(_), Some(src)) = (g.op(n), g.operand(n, 0))
            && matches!(g.op(src), Op::Conv(_) | Op::Gemm(_))
            && g.has_single_use(src)
        {
            return Err(fail(format!("{} was not fused into its producer", g.op(n))));
        }
    }
    Ok(())
}
