//! Quantised operators: their import rules and refusals on small hand-built graphs, each run
//! through the interpreter.

use mobilenet_compiler::ir::{DType, Op, Tensor};
use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::onnx::proto::{TensorProto, data_type};
use mobilenet_compiler::{ErrorKind, Options, frontend_from_model, interp};

fn error(b: ModelBuilder) -> mobilenet_compiler::Error {
    frontend_from_model(&b.build(), None, &Options::default()).expect_err("refused")
}

/// x -> QuantizeLinear(scale, zp) -> DequantizeLinear -> y, with the given parameter tensors.
fn roundtrip(scale: TensorProto, zero_point: TensorProto) -> ModelBuilder {
    ModelBuilder::new(13)
        .input("x", &[1, 4])
        .tensor(scale)
        .tensor(zero_point)
        .node("QuantizeLinear", &["x", "s", "z"], &["q"], vec![])
        .node("DequantizeLinear", &["q", "s", "z"], &["y"], vec![])
        .output("y")
}

#[test]
fn quantize_rounds_half_to_even_and_saturates() {
    let b = roundtrip(float_tensor("s", &[], &[0.5]), int_tensor("z", data_type::UINT8, &[], &[10]));
    let fe = frontend_from_model(&b.build(), None, &Options::default()).expect("compiles");
    let x = Tensor::f32(vec![1, 4], vec![0.25, 0.75, -100.0, 1000.0]);
    let y = interp::run(&fe.optimized, &[x]).expect("runs");
    // 0.25/0.5 = 0.5 rounds to 0, 1.5 to 2; saturation at 0 and 255.
    assert_eq!(y[0].as_f32().unwrap(), [0.0, 1.0, -5.0, 122.5]);
}

#[test]
fn an_integer_model_input_and_output() {
    let b = ModelBuilder::new(13)
        .typed_input("x", data_type::UINT8, &[1, 4])
        .tensor(float_tensor("s", &[], &[0.5]))
        .tensor(int_tensor("z", data_type::UINT8, &[], &[128]))
        .tensor(float_tensor("s2", &[], &[0.25]))
        .tensor(int_tensor("z2", data_type::INT8, &[], &[0]))
        .node("DequantizeLinear", &["x", "s", "z"], &["f"], vec![])
        .node("Relu", &["f"], &["r"], vec![])
        .node("QuantizeLinear", &["r", "s2", "z2"], &["y"], vec![])
        .output("y");
    let fe = frontend_from_model(&b.build(), None, &Options::default()).expect("compiles");
    // Dequantize, Relu, Quantize became one table.
    assert!(fe.optimized.dag.node_indices().any(|n| matches!(fe.optimized.op(n), Op::QLookup(_))));
    let x = Tensor::int(DType::U8, vec![1, 4], vec![0, 127, 130, 255]);
    let y = interp::run(&fe.optimized, &[x]).expect("runs");
    assert_eq!(y[0].dtype, DType::I8);
    // (q - 128) * 0.5, Relu, / 0.25 saturated to int8.
    assert_eq!(y[0].as_i64().unwrap(), [0, 0, 4, 127]);
}

#[test]
fn bad_parameters_are_refused_with_what_is_wrong() {
    let cases: Vec<(ModelBuilder, ErrorKind, &str)> = vec![
        (
            roundtrip(float_tensor("s", &[], &[0.0]), int_tensor("z", data_type::UINT8, &[], &[0])),
            ErrorKind::Unsupported,
            "scales must be finite and positive",
        ),
        (
            roundtrip(float_tensor("s", &[], &[f32::NAN]), int_tensor("z", data_type::UINT8, &[], &[0])),
            ErrorKind::Unsupported,
            "scales must be finite and positive",
        ),
        (
            roundtrip(float_tensor("s", &[], &[0.1]), int_tensor("z", data_type::UINT16, &[], &[0])),
            ErrorKind::Unsupported,
            "only uint8 and int8",
        ),
        (
            roundtrip(float_tensor("s", &[], &[0.1]), int_tensor("z", data_type::UINT8, &[], &[300])),
            ErrorKind::Invalid,
            "holds 300, outside the range of u8",
        ),
        (
            roundtrip(float_tensor("s", &[2], &[0.1, 0.2]), int_tensor("z", data_type::UINT8, &[1], &[0])),
            ErrorKind::Invalid,
            "2 scales and 1 zero points",
        ),
        (
            roundtrip(float_tensor("s", &[3], &[0.1, 0.2, 0.3]), int_tensor("z", data_type::UINT8, &[3], &[0, 0, 0])),
            ErrorKind::Invalid,
            "3 scales along axis 1",
        ),
    ];
    for (b, kind, text) in cases {
        let e = error(b);
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.to_string().contains(text), "{e}");
        assert!(e.node().is_some_and(|n| n.op_type.ends_with("Linear")), "names the node: {e}");
    }
}

#[test]
fn scales_computed_at_run_time_are_refused() {
    let b = ModelBuilder::new(13)
        .input("x", &[1, 4])
        .input("s", &[])
        .node("QuantizeLinear", &["x", "s"], &["y"], vec![])
        .output("y");
    let e = error(b);
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("must be a constant"), "{e}");
}

#[test]
fn blocked_quantisation_and_dynamic_quantisation_are_refused() {
    let b = ModelBuilder::new(21)
        .input("x", &[1, 4])
        .tensor(float_tensor("s", &[], &[0.5]))
        .node("QuantizeLinear", &["x", "s"], &["y"], vec![attr_int("block_size", 2)])
        .output("y");
    assert!(error(b).to_string().contains("block_size"));
    let b = ModelBuilder::new(13)
        .input("x", &[1, 4])
        .node("DynamicQuantizeLinear", &["x"], &["y", "s", "z"], vec![])
        .output("y");
    let e = error(b);
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("dynamic quantisation"), "{e}");
}

#[test]
fn onnxruntime_operators_need_their_domain_declared() {
    let mut m = ModelBuilder::new(13)
        .typed_input("a", data_type::UINT8, &[1, 4])
        .tensor(float_tensor("s", &[], &[0.5]))
        .tensor(int_tensor("z", data_type::UINT8, &[], &[0]))
        .node_in("com.microsoft", "QLinearAdd", &["a", "s", "z", "a", "s", "z", "s", "z"], &["y"], vec![])
        .output("y")
        .build();
    let fe = frontend_from_model(&m, None, &Options::default()).expect("compiles");
    let x = Tensor::int(DType::U8, vec![1, 4], vec![0, 1, 100, 200]);
    let y = interp::run(&fe.optimized, &[x]).expect("runs");
    assert_eq!(y[0].as_i64().unwrap(), [0, 2, 200, 255]);
    m.opset_import.retain(|o| o.domain != "com.microsoft");
    let e = frontend_from_model(&m, None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("does not declare in its opset_import"), "{e}");
}
