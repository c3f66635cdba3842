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

fn stem_fused(k: &Kernel) -> bool {
    matches!(k, Kernel::Fused { p, .. } if p.stem.is_some())
}

/// The V1-like fixture's first conv streams into its first depthwise -> pointwise pair: there
/// is no separate first conv, and the block reads the caller's input. (The V2-like fixture's
/// first block has an expand conv: its first conv stays on its own.)
#[test]
fn the_first_conv_streams_into_the_first_block() {
    let p = program(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/old_opset_v1_like.op10.onnx"));
    assert!(stem_fused(&p.steps[0].kernel), "first step: {}", p.steps[0].label);
    assert_eq!(p.steps[0].reads[0].loc, mobilenet_compiler::lower::Loc::Input);
    assert_eq!(count(&p, |k| matches!(k, Kernel::Conv2d { .. })), 0);
    assert_eq!(count(&p, stem_fused), 1);
}

fn fused(k: &Kernel) -> bool {
    matches!(k, Kernel::Fused { .. })
}

/// Compiled for 2 threads, depthwise -> pointwise pairs with small tensors run layer by layer
/// (the V1-like fixture's only pair: 8x15x15); its blocks with an expand conv stay fused (the
/// V2-like fixture).
#[test]
fn small_pairs_run_layer_by_layer_for_two_threads() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures");
    let two = |name: &str| Compiler::new(fixtures.join(name)).threads(2).compile().expect("the model compiles").program;
    let v1 = two("old_opset_v1_like.op10.onnx");
    assert_eq!(count(&v1, fused), 0);
    assert_eq!(count(&v1, |k| matches!(k, Kernel::Conv2d { .. })), 1);
    let one = program(&fixtures.join("torch_v2_like.dynbatch.op13.onnx"));
    let v2 = two("torch_v2_like.dynbatch.op13.onnx");
    assert!(count(&one, fused) > 0);
    assert_eq!(count(&v2, fused), count(&one, fused));
}

/// MobileNetV2 1.0/224: with the first conv streamed, the largest live set is the second
/// block's input and output and its ring and tile, in 2 strips of 28 output columns (57 input
/// columns): 1,180,288 bytes, against 2,422,784 with the first conv's 1.6 MB output in the
/// arena and the second block's rows whole.
#[test]
fn mobilenet_v2_arena_without_the_first_conv_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/torch/mobilenet_v2.tv.legacy.op13.onnx");
    if !path.exists() {
        eprintln!("note: ../shared/models is absent; MobileNetV2's arena is not checked");
        return;
    }
    let c = Compiler::new(&path).compile().expect("compiles");
    assert!(stem_fused(&c.program.steps[0].kernel));
    let Kernel::Fused { p: second, .. } = &c.program.steps[1].kernel else { panic!("{}", c.program.steps[1].label) };
    assert_eq!((second.strip_w, second.strip_in_w()), (28, 57));
    let (input, output, ring_and_tile) = (112 * 112 * 16, 56 * 56 * 24, 3 * 57 * 96 + 28 * 96);
    assert_eq!(c.plan.arena_bytes(), 4 * (input + output + ring_and_tile));
    assert!(c.plan.arena_bytes() <= 1_250_000);
}
