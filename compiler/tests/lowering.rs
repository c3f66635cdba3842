//! Which kernel calls lowering chooses, where that choice is an optimisation the output tests
//! cannot see (they pass either way): squeeze-and-excitation gates folded into the GEMM.

use std::path::Path;

use mobilenet_compiler::Compiler;
use mobilenet_compiler::lower::{Kernel, Program};
use mobilenet_kernels::elementwise::BinOp;

fn program(path: &Path) -> Program {
    Compiler::new(path).compile().expect("the model compiles").program
}

fn count(p: &Program, what: impl Fn(&Kernel) -> bool) -> usize {
    p.steps.iter().filter(|s| what(&s.kernel)).count()
}

fn gated(k: &Kernel) -> bool {
    matches!(k, Kernel::GatedGemm { .. })
}

fn mul(k: &Kernel) -> bool {
    matches!(k, Kernel::Binary(b) if b.op == BinOp::Mul)
}

/// The project's V3-like fixture: each of its three SE blocks gates a projection with fewer
/// output channels than pixels, so every gate is folded and no Mul is left; the step's comment
/// names the Mul first.
#[test]
fn se_gates_fold_into_the_projection() {
    let p = program(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/v3_like.op14.onnx"));
    assert_eq!(count(&p, gated), 3, "{:#?}", p.steps.iter().map(|s| &s.label).collect::<Vec<_>>());
    assert_eq!(count(&p, mul), 0);
    for s in p.steps.iter().filter(|s| gated(&s.kernel)) {
        assert!(s.origin.first().is_some_and(|o| o.starts_with("Mul")), "origin {:?}", s.origin);
        let Kernel::GatedGemm { p: g, images, .. } = &s.kernel else { unreachable!() };
        assert!(mobilenet_kernels::gemm::padded(g.n) < g.m / images, "gated where it should not be: {g:?}");
    }
}

/// torchvision's MobileNetV3-small: the gates of its 56x56 and 14x14 blocks fold; those of its
/// 7x7 blocks (49 pixels, 96 output channels) stay a Mul, where scaling the weights would cost
/// more than scaling the input.
#[test]
fn se_gates_stay_a_mul_where_the_weights_are_larger() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/torch/mobilenet_v3_small.tv.legacy.op13.onnx");
    if !path.exists() {
        eprintln!("note: ../shared/models is absent; MobileNetV3-small's SE lowering is not checked");
        return;
    }
    let p = program(&path);
    assert_eq!(count(&p, gated), 6);
    assert_eq!(count(&p, mul), 3);
}
