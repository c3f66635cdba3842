//! ONNX's own conformance suite: the backend node tests of the onnx 1.17.0 wheel (fetched into
//! target/onnx-backend-node by tests/onnx_backend/fetch.py; CI fetches them, elsewhere this test
//! says so and skips). Every test whose operators the compiler supports runs through the
//! interpreter and, where the model has one float input and output, the lowered program on
//! every SIMD path, against ONNX's expected outputs. The compiler may refuse a test (an input
//! that is not float32, a form it does not implement); it may not give another answer or panic.
//! In the tests of the quantisation operators, the inputs after the first (scales, zero points,
//! weights) become initializers holding the test's values: the compiler needs quantisation
//! parameters at compile time, as every quantised model has them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use mobilenet_compiler::import::{SUPPORTED_OPS, tensor_from_proto};
use mobilenet_compiler::ir::Tensor;
use mobilenet_compiler::onnx::proto::TensorProto;
use mobilenet_compiler::{InputShape, Limits, Options, ShapeOptions, frontend_from_model, onnx};
use mobilenet_tests::diff::{Outcome, check};
use prost::Message;

fn node_tests() -> Option<PathBuf> {
    let dir = std::env::var_os("ONNX_BACKEND_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/onnx-backend-node"));
    dir.is_dir().then_some(dir)
}

fn read_tensor(path: &Path) -> Option<Tensor> {
    let t = TensorProto::decode(&std::fs::read(path).ok()?[..]).ok()?;
    tensor_from_proto(&t, &Limits::default()).ok()
}

/// The test's outcome, or `None` when it uses an operator the compiler does not support.
fn run(dir: &Path) -> Option<Outcome> {
    let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
    let model = onnx::decode_model(&bytes, &Limits::default()).ok()?;
    let graph = model.graph.as_ref()?;
    if !graph.node.iter().all(|n| n.domain.is_empty() && SUPPORTED_OPS.contains(&n.op_type.as_str())) {
        return None;
    }
    let data = dir.join("test_data_set_0");
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs: Vec<String> =
        graph.input.iter().map(|i| i.name.clone()).filter(|n| !initializers.contains(&n.as_str())).collect();
    let quantised = graph
        .node
        .iter()
        .any(|n| matches!(n.op_type.as_str(), "QuantizeLinear" | "DequantizeLinear" | "QLinearConv" | "QLinearMatMul"));
    let mut model = model.clone();
    if quantised && inputs.len() > 1 {
        let g = model.graph.as_mut()?;
        for (i, name) in inputs.iter().enumerate().skip(1) {
            let mut t = TensorProto::decode(&std::fs::read(data.join(format!("input_{i}.pb"))).ok()?[..]).ok()?;
            t.name = name.clone();
            g.initializer.push(t);
        }
        g.input.retain(|vi| vi.name == inputs[0]);
        inputs.truncate(1);
    }
    let mut xs = Vec::new();
    for i in 0..inputs.len() {
        xs.push(read_tensor(&data.join(format!("input_{i}.pb")))?);
    }
    let want: Vec<Tensor> =
        (0..graph.output.len()).map(|i| read_tensor(&data.join(format!("output_{i}.pb")))).collect::<Option<_>>()?;
    let input_shapes = inputs
        .iter()
        .zip(&xs)
        .map(|(name, x)| InputShape { name: Some(name.clone()), dims: x.shape.clone() })
        .collect();
    let options = Options { shapes: ShapeOptions { batch: None, input_shapes }, ..Options::default() };
    let path = dir.join("model.onnx");
    let outcome =
        catch_unwind(AssertUnwindSafe(|| check(frontend_from_model(&model, Some(&path), &options), &xs, Some(&want))));
    Some(outcome.unwrap_or_else(|p| {
        Outcome::Panic(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        )
    }))
}

/// Tests whose expected output is wrong in the onnx 1.17.0 data, each with the answer the
/// compiler must give instead (checked), and why.
const WRONG_EXPECTATIONS: &[(&str, &str, &str)] = &[(
    "test_qlinearmatmul_2D_int8_float32",
    "element 5: -128, expected 20",
    // -52135 * (0.0066 * 0.00705 / 0.0107) - 9 = -235.7: QLinearMatMul saturates to -128;
    // the data holds -236 wrapped to int8 (20). onnxruntime 1.32 and onnx.reference give -128.
    "the expected value wraps where the operator saturates",
)];

#[test]
fn onnx_backend_node_tests() {
    let Some(root) = node_tests() else {
        eprintln!(
            "note: the ONNX backend node tests are absent (python3 tests/onnx_backend/fetch.py fetches them); skipped"
        );
        return;
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let (mut agree, mut interp_only, mut refused, mut failures) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match run(dir) {
            None => {}
            Some(Outcome::Agree) => agree.push(name),
            Some(Outcome::InterpreterAgrees(_)) => interp_only.push(name),
            Some(Outcome::Refused(why)) => refused.push(format!("{name}: {why}")),
            Some(Outcome::Mismatch(m))
                if WRONG_EXPECTATIONS.iter().any(|(test, answer, _)| *test == name && m.ends_with(answer)) =>
            {
                // (the interpreter's answer, checked; the compiled code is not run on this one)
                interp_only.push(name)
            }
            Some(o) => failures.push(format!("{name}: {o:?}")),
        }
    }
    eprintln!(
        "ONNX backend node tests of supported operators: {} agree (interpreter and generated code), {} agree in the \
         interpreter (code generation takes one float or 8-bit input and gives one output), {} refused, {} fail (of {} tests)",
        agree.len(),
        interp_only.len(),
        refused.len(),
        failures.len(),
        dirs.len()
    );
    for r in &refused {
        eprintln!("  refused: {}", r.chars().take(200).collect::<String>());
    }
    assert!(failures.is_empty(), "{} tests give another answer:\n{}", failures.len(), failures.join("\n"));
    // So that refusing everything cannot pass: 125 of them agreed when this test was written.
    assert!(agree.len() + interp_only.len() >= 120, "only {} tests agree", agree.len() + interp_only.len());
}
