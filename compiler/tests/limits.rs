//! Every resource limit ends in its own error, quickly, never in an abort: each test builds a
//! model just past one limit (lowered where the default is too big to build cheaply).

use std::time::{Duration, Instant};

use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::{Compiler, ErrorKind, Limits, Options, frontend_from_model, onnx};

fn expect_limit(result: Result<impl std::fmt::Debug, mobilenet_compiler::Error>, needle: &str) {
    let e = result.expect_err("the limit must be hit");
    assert_eq!(e.kind(), ErrorKind::Limit, "{e}");
    assert!(e.to_string().contains(needle), "expected {needle:?} in: {e}");
}

fn with(limits: Limits) -> Options {
    Options { limits, ..Options::default() }
}

fn relu(dims: &[i64]) -> ModelBuilder {
    ModelBuilder::new(13).input("x", dims).node("Relu", &["x"], &["y"], vec![]).output("y")
}

#[test]
fn a_2_gb_dimension() {
    expect_limit(frontend_from_model(&relu(&[1, 1 << 31]).build(), None, &Options::default()), "Limits::max_dim");
}

#[test]
fn tensor_elements() {
    let limits = Limits { max_tensor_elements: 1 << 20, ..Limits::default() };
    // Each dimension is fine; their product is not.
    expect_limit(
        frontend_from_model(&relu(&[1, 2048, 1024]).build(), None, &with(limits.clone())),
        "Limits::max_tensor_elements",
    );
    // The same for a result that only shape inference sees: [4096, 1] x [1, 4096].
    let m = ModelBuilder::new(13)
        .input("x", &[4096, 1])
        .initializer("w", &[1, 4096], &vec![0.5; 4096])
        .node("MatMul", &["x", "w"], &["y"], vec![])
        .output("y")
        .build();
    expect_limit(frontend_from_model(&m, None, &with(limits)), "Limits::max_tensor_elements");
}

#[test]
fn rank() {
    expect_limit(frontend_from_model(&relu(&[1; 9]).build(), None, &Options::default()), "Limits::max_rank");
}

#[test]
fn total_weights() {
    let limits = Limits { max_total_weights: 1000, ..Limits::default() };
    let m = ModelBuilder::new(13)
        .input("x", &[1, 600])
        .initializer("a", &[600], &vec![1.0; 600])
        .initializer("b", &[600], &vec![1.0; 600])
        .node("Add", &["x", "a"], &["s"], vec![])
        .node("Add", &["s", "b"], &["y"], vec![])
        .output("y")
        .build();
    expect_limit(frontend_from_model(&m, None, &with(limits)), "Limits::max_total_weights");
}

#[test]
fn name_length() {
    let long = "n".repeat(5000);
    let m = ModelBuilder::new(13).input("x", &[1, 4]).node("Relu", &["x"], &[&long], vec![]).output(&long).build();
    expect_limit(frontend_from_model(&m, None, &Options::default()), "Limits::max_name_len");
}

#[test]
fn file_size() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/v3_like.op14.onnx");
    let limits = Limits { max_file_bytes: 1000, ..Limits::default() };
    expect_limit(onnx::read_model(&path, &limits), "Limits::max_file_bytes");
}

#[test]
fn arena_size() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures/v3_like.op14.onnx");
    let limits = Limits { max_arena_bytes: 4096, ..Limits::default() };
    expect_limit(Compiler::new(path).options(with(limits)).compile(), "Limits::max_arena_bytes");
}

/// A million nodes: refused before decoding, by the wire scan, in bounded time and memory.
#[test]
fn a_million_nodes() {
    let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
    let mut prev = "x".to_string();
    for i in 0..1_000_000 {
        let next = format!("t{i}");
        b = b.node("Relu", &[&prev], &[&next], vec![]);
        prev = next;
    }
    let bytes = b.output(&prev).to_bytes();
    let start = Instant::now();
    expect_limit(onnx::decode_model(&bytes, &Limits::default()), "Limits::max_nodes");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
}

/// The same chain within a raised limit still compiles in time roughly linear in its length.
#[test]
fn long_graphs_stay_linear() {
    let time_for = |n: usize| {
        let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
        let mut prev = "x".to_string();
        for i in 0..n {
            let next = format!("t{i}");
            b = b.node("Relu", &[&prev], &[&next], vec![]);
            prev = next;
        }
        let m = b.output(&prev).build();
        let start = Instant::now();
        frontend_from_model(&m, None, &Options::default()).expect("compiles");
        start.elapsed()
    };
    let (small, large) = (time_for(2_000), time_for(20_000));
    // Ten times the nodes may take at most forty times as long (quadratic would be 100x).
    assert!(large < small * 40 + Duration::from_millis(200), "2k nodes: {small:?}, 20k nodes: {large:?}");
}

#[test]
fn subgraphs_are_refused() {
    let mut attr = attr_int("body", 0);
    attr.r#type = onnx::proto::attribute_type::GRAPH;
    let m = ModelBuilder::new(13).input("x", &[1, 4]).node("Relu", &["x"], &["y"], vec![attr]).output("y").build();
    let e = frontend_from_model(&m, None, &Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("sub-graph"), "{e}");
}
