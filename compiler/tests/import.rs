//! Opset-dependent import rules on small hand-built graphs, each run through the interpreter.

use mobilenet_compiler::ir::{Op, Tensor};
use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::{ErrorKind, Options, frontend_from_model, interp};

fn run(b: ModelBuilder, input: Tensor) -> Vec<f32> {
    let fe = frontend_from_model(&b.build(), None, &Options::default()).expect("compiles");
    let out = interp::run(&fe.optimized, &[input]).expect("runs");
    out[0].as_f32().unwrap().to_vec()
}

fn row(v: &[f32]) -> Tensor {
    Tensor::f32(vec![1, v.len()], v.to_vec())
}

#[test]
fn clip_bounds_as_attributes_before_opset_11() {
    let b = ModelBuilder::new(6)
        .input("x", &[1, 4])
        .node("Clip", &["x"], &["y"], vec![attr_float("min", -1.0), attr_float("max", 2.0)])
        .output("y");
    assert_eq!(run(b, row(&[-5.0, 0.5, 1.5, 9.0])), [-1.0, 0.5, 1.5, 2.0]);
}

#[test]
fn clip_bounds_as_inputs_may_be_missing() {
    let b = ModelBuilder::new(13)
        .input("x", &[1, 4])
        .initializer("hi", &[], &[6.0])
        .node("Clip", &["x", "", "hi"], &["y"], vec![])
        .output("y");
    assert_eq!(run(b, row(&[-5.0, 0.5, 1.5, 9.0])), [-5.0, 0.5, 1.5, 6.0]);
    let unbounded = ModelBuilder::new(13).input("x", &[1, 2]).node("Clip", &["x"], &["y"], vec![]).output("y");
    assert_eq!(run(unbounded, row(&[-5.0, 9.0])), [-5.0, 9.0]);
}

#[test]
fn clip_bound_computed_at_run_time_is_refused() {
    let m = ModelBuilder::new(13)
        .input("x", &[1, 2])
        .node("Relu", &["x"], &["r"], vec![])
        .node("Clip", &["x", "r"], &["y"], vec![])
        .output("y")
        .build();
    let e = frontend_from_model(&m, None, &Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("the min bound (input 1, 'r') must be a constant"), "{e}");
}

#[test]
fn squeeze_and_unsqueeze_axes_as_attribute_and_as_input() {
    let old = ModelBuilder::new(11)
        .input("x", &[1, 3, 1, 1])
        .node("Squeeze", &["x"], &["s"], vec![attr_ints("axes", &[2, 3])])
        .node("Unsqueeze", &["s"], &["y"], vec![attr_ints("axes", &[0])])
        .output("y");
    let new = ModelBuilder::new(13)
        .input("x", &[1, 3, 1, 1])
        .tensor(int64_tensor("sq", &[-1, -2]))
        .tensor(int64_tensor("un", &[0]))
        .node("Squeeze", &["x", "sq"], &["s"], vec![])
        .node("Unsqueeze", &["s", "un"], &["y"], vec![])
        .output("y");
    for b in [old, new] {
        let fe = frontend_from_model(&b.build(), None, &Options::default()).unwrap();
        let out = fe.optimized.outputs()[0].node;
        assert_eq!(fe.optimized.shape(out).unwrap(), [1, 1, 3]);
        assert!(matches!(fe.optimized.op(out), Op::View { .. }), "one View remains");
    }
}

#[test]
fn reduce_mean_axes_as_attribute_and_as_input() {
    let x = Tensor::f32(vec![1, 2, 2, 2], vec![1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]);
    let old = ModelBuilder::new(13)
        .input("x", &[1, 2, 2, 2])
        .node("ReduceMean", &["x"], &["y"], vec![attr_ints("axes", &[2, 3]), attr_int("keepdims", 0)])
        .output("y");
    let new = ModelBuilder::new(18)
        .input("x", &[1, 2, 2, 2])
        .tensor(int64_tensor("axes", &[-1, -2]))
        .node("ReduceMean", &["x", "axes"], &["y"], vec![attr_int("keepdims", 0)])
        .output("y");
    assert_eq!(run(old, x.clone()), [2.5, 25.0]);
    assert_eq!(run(new, x), [2.5, 25.0]);
}

#[test]
fn pad_as_attributes_and_as_inputs() {
    let x = Tensor::f32(vec![1, 1, 1, 2], vec![1.0, 2.0]);
    let pads = [0, 0, 0, 1, 0, 0, 1, 0];
    let old = ModelBuilder::new(10)
        .input("x", &[1, 1, 1, 2])
        .node("Pad", &["x"], &["y"], vec![attr_ints("pads", &pads), attr_float("value", 7.0)])
        .output("y");
    let new = ModelBuilder::new(13)
        .input("x", &[1, 1, 1, 2])
        .tensor(int64_tensor("pads", &pads))
        .initializer("v", &[], &[7.0])
        .node("Pad", &["x", "pads", "v"], &["y"], vec![])
        .output("y");
    let want = [7.0, 1.0, 2.0, 7.0, 7.0, 7.0];
    assert_eq!(run(old, x.clone()), want);
    assert_eq!(run(new, x), want);
    let reflect = ModelBuilder::new(10)
        .input("x", &[1, 1, 1, 2])
        .node("Pad", &["x"], &["y"], vec![attr_ints("pads", &pads), attr_string("mode", "reflect")])
        .output("y")
        .build();
    let e = frontend_from_model(&reflect, None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("Pad mode 'reflect' is not supported"), "{e}");
}

/// SAME_UPPER puts the odd padding at the end, SAME_LOWER at the beginning; a ones-kernel sum
/// shows where the zeros went.
#[test]
fn auto_pad_same_upper_and_lower() {
    let conv = |mode: &str| {
        ModelBuilder::new(13)
            .input("x", &[1, 1, 1, 4])
            .initializer("w", &[1, 1, 1, 2], &[1.0, 10.0])
            .node("Conv", &["x", "w"], &["y"], vec![attr_string("auto_pad", mode), attr_ints("kernel_shape", &[1, 2])])
            .output("y")
    };
    let x = Tensor::f32(vec![1, 1, 1, 4], vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(run(conv("SAME_UPPER"), x.clone()), [21.0, 32.0, 43.0, 4.0]);
    assert_eq!(run(conv("SAME_LOWER"), x.clone()), [10.0, 21.0, 32.0, 43.0]);
    assert_eq!(run(conv("VALID"), x), [21.0, 32.0, 43.0]);
}

#[test]
fn batchnorm_versions_fold_the_same() {
    for opset in [7, 9, 14, 15] {
        let b = ModelBuilder::new(opset)
            .input("x", &[1, 2, 1, 1])
            .initializer("w", &[2, 2, 1, 1], &[1.0, 0.0, 0.0, 1.0])
            .initializer("s", &[2], &[2.0, 3.0])
            .initializer("b", &[2], &[0.5, -0.5])
            .initializer("m", &[2], &[1.0, 1.0])
            .initializer("v", &[2], &[4.0, 1.0 - 1e-5])
            .node("Conv", &["x", "w"], &["c"], vec![])
            .node("BatchNormalization", &["c", "s", "b", "m", "v"], &["y"], vec![])
            .output("y");
        let out = run(b, Tensor::f32(vec![1, 2, 1, 1], vec![3.0, 5.0]));
        assert!((out[0] - 2.5).abs() < 1e-5 && (out[1] - 11.5).abs() < 1e-4, "opset {opset}: {out:?}");
    }
}

#[test]
fn initializers_listed_as_inputs_are_weights() {
    let mut m = ModelBuilder::new(9)
        .input("x", &[1, 2])
        .initializer("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0])
        .node("MatMul", &["x", "w"], &["y"], vec![])
        .output("y")
        .build();
    m.graph.as_mut().unwrap().input.push(value_info("w", &[2, 2]));
    let fe = frontend_from_model(&m, None, &Options::default()).unwrap();
    assert_eq!(fe.optimized.inputs.len(), 1);
    let out = interp::run(&fe.optimized, &[row(&[1.0, 1.0])]).unwrap();
    assert_eq!(out[0].as_f32().unwrap(), [4.0, 6.0]);
}

#[test]
fn secondary_outputs_are_refused_when_used() {
    let m = ModelBuilder::new(13)
        .input("x", &[1, 2])
        .node("Dropout", &["x"], &["y", "mask"], vec![])
        .node("Cast", &["mask"], &["z"], vec![attr_int("to", 1)])
        .output("z")
        .build();
    let e = frontend_from_model(&m, None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("secondary output of Dropout"), "{e}");
}

#[test]
fn subgraph_attributes_are_refused() {
    let mut attr = attr_int("then_branch", 0);
    attr.r#type = mobilenet_compiler::onnx::proto::attribute_type::GRAPH;
    let m = ModelBuilder::new(13).input("x", &[1]).node("If", &["x"], &["y"], vec![attr]).output("y").build();
    let e = frontend_from_model(&m, None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("If"), "{e}");
}

/// The demo generator builds torchvision's MobileNetV2: 300.8 M MACs at width 1.0, 224x224
/// (../shared/docs/PERFORMANCE.md), and after BatchNorm folding the 3,487,816 weights the real
/// torch export of ../shared/models has.
#[test]
fn demo_mobilenet_v2_has_the_torchvision_shape() {
    let m = mobilenet_v2_random(1.0, 1000, 224, 7);
    if let Ok(dir) = std::env::var("MOBILENET_DUMP_DEMO") {
        use prost::Message;
        std::fs::write(format!("{dir}/demo.onnx"), m.encode_to_vec()).unwrap();
    }
    let fe = frontend_from_model(&m, None, &Options::default()).unwrap();
    let s = mobilenet_compiler::stats::compute(&fe).unwrap();
    assert_eq!(s.macs, 300_774_272);
    assert_eq!(s.params, 3_487_816);
    assert_eq!(s.fusions["residual_add->conv"], 10);
}
