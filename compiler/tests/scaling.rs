//! Every stage is O(n log n) in nodes, axes and buffers: for graphs of several shapes, `stats`
//! (import, passes, lowering, memory plan), `dump` (text, DOT, JSON) and `emit` (source generation) on 8n nodes take
//! less than 16 times as long as on n (linear would be 8x, quadratic 64x). Times are the best
//! of three runs, so that this shared machine's noise does not decide the outcome.

use std::time::{Duration, Instant};

use mobilenet_compiler::ir::print;
use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::onnx::proto::ModelProto;
use mobilenet_compiler::{ErrorKind, Limits, Options, codegen, frontend_from_model, lower, plan, stats};

fn options() -> Options {
    Options { limits: Limits { max_nodes: 10_000_000, ..Limits::default() }, ..Options::default() }
}

/// What `mobilenetc stats` and `emit` do, minus the file: the frontend, statistics (which lower
/// and plan), and the generated source. Errors count as an outcome (a graph with many outputs
/// is refused by lowering, after the passes).
fn compile(m: &ModelProto) {
    let Ok(fe) = frontend_from_model(m, None, &options()) else { return };
    let _ = stats::compute(&fe);
    for g in [&fe.imported, &fe.optimized] {
        let _ = (print::to_text(g, "x"), print::to_dot(g, "x"), print::to_json(g, "x"));
    }
    let Ok(mut program) = lower::lower(&fe.optimized, 2) else { return };
    let Ok(plan) = plan::plan(&mut program) else { return };
    let opts = codegen::Options {
        struct_name: "Net".into(),
        visibility: Default::default(),
        weights: codegen::Weights::IncludeBytes(quote::quote!("w.bin")),
        comments: true,
        track_files: Vec::new(),
        description: String::new(),
    };
    codegen::source(&program, &plan, &opts, &[]).expect("generates");
}

fn best_of_3(m: &ModelProto) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            compile(m);
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn check(what: &str, n: usize, build: impl Fn(usize) -> ModelProto) {
    let (small, large) = (build(n), build(8 * n));
    let (a, b) = (best_of_3(&small), best_of_3(&large));
    eprintln!("{what}: {n} -> {a:?}, {} -> {b:?} ({:.1}x)", 8 * n, b.as_secs_f64() / a.as_secs_f64());
    assert!(b < a * 16 + Duration::from_millis(50), "{what}: {n} units took {a:?}, {} took {b:?}", 8 * n);
}

fn constant(name: &str) -> Vec<f32> {
    let seed = name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    (0..4).map(|i| ((seed + i) % 7) as f32 * 0.1).collect()
}

/// y = ((x + c0) + c1) + ...: one elementwise step per node.
fn add_chain(n: usize) -> ModelProto {
    let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
    let mut prev = "x".to_string();
    for i in 0..n {
        let (c, next) = (format!("c{i}"), format!("t{i}"));
        b = b.initializer(&c, &[4], &constant(&c)).node("Add", &[&prev, &c], &[&next], vec![]);
        prev = next;
    }
    b.output(&prev).build()
}

/// Depthwise -> pointwise pairs on a small image: groups, fusion, weight packing.
fn conv_chain(n: usize) -> ModelProto {
    let mut b = ModelBuilder::new(13).input("x", &[1, 8, 4, 4]);
    let mut prev = "x".to_string();
    for i in 0..n / 2 {
        let (dw, pw, d, p) = (format!("dw{i}"), format!("pw{i}"), format!("d{i}"), format!("p{i}"));
        b = b
            .initializer(&dw, &[8, 1, 3, 3], &[0.1; 72])
            .initializer(&pw, &[8, 8, 1, 1], &[0.1; 64])
            .node("Conv", &[&prev, &dw], &[&d], vec![attr_int("group", 8), attr_ints("pads", &[1, 1, 1, 1])])
            .node("Relu", &[&d], &[&format!("{d}r")], vec![])
            .node("Conv", &[&format!("{d}r"), &pw], &[&p], vec![]);
        prev = p;
    }
    b.output(&prev).build()
}

/// n branches alive at once, joined by one Concat: n buffers whose lifetimes all overlap.
fn wide_concat(n: usize) -> ModelProto {
    let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
    let mut parts = Vec::new();
    for i in 0..n {
        let (c, t) = (format!("c{i}"), format!("t{i}"));
        b = b.initializer(&c, &[4], &constant(&c)).node("Mul", &["x", &c], &[&t], vec![]);
        parts.push(t);
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    b.node("Concat", &refs, &["y"], vec![attr_int("axis", 1)]).output("y").build()
}

/// Each of n nodes is a graph output (refused by lowering, which takes one output).
fn many_outputs(n: usize) -> ModelProto {
    let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
    for i in 0..n {
        let t = format!("t{i}");
        b = b.node("Relu", &["x"], &[&t], vec![]).output(&t);
    }
    b.build()
}

/// A chain in which every value is also read by the last node: long lifetimes, a deep tree
/// of Adds.
fn long_lifetimes(n: usize) -> ModelProto {
    let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
    let mut level: Vec<String> = Vec::new();
    let mut prev = "x".to_string();
    for i in 0..n / 2 {
        let t = format!("t{i}");
        b = b.node("Sigmoid", &[&prev], &[&t], vec![]);
        level.push(t.clone());
        prev = t;
    }
    let mut k = 0;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            if let [a, c] = pair {
                let s = format!("s{k}");
                k += 1;
                b = b.node("Add", &[a, c], &[&s], vec![]);
                next.push(s);
            } else {
                next.push(pair[0].clone());
            }
        }
        level = next;
    }
    b.output(&level[0]).build()
}

#[test]
fn elementwise_chains() {
    check("add chain", 2_000, add_chain);
}

#[test]
fn convolution_chains() {
    check("conv chain", 1_000, conv_chain);
}

#[test]
fn buffers_alive_together() {
    check("wide concat", 1_000, wide_concat);
    check("long lifetimes", 2_000, long_lifetimes);
}

#[test]
fn many_graph_outputs() {
    check("many outputs", 2_000, many_outputs);
}

/// Attribute lists are checked against the rank limit before any work proportional to them.
#[test]
fn long_attribute_lists_are_refused_at_once() {
    let axes: Vec<i64> = (0..1_000_000).collect();
    let cases = [
        ("Unsqueeze", vec![attr_ints("axes", &axes)]),
        ("Squeeze", vec![attr_ints("axes", &axes)]),
        ("Transpose", vec![attr_ints("perm", &axes)]),
        ("ReduceMean", vec![attr_ints("axes", &axes)]),
    ];
    for (op, attrs) in cases {
        let m = ModelBuilder::new(11).input("x", &[1, 4]).node(op, &["x"], &["y"], attrs).output("y").build();
        let t = Instant::now();
        let e = frontend_from_model(&m, None, &Options::default()).expect_err(op);
        assert!(matches!(e.kind(), ErrorKind::Limit | ErrorKind::Invalid), "{op}: {e}");
        assert!(t.elapsed() < Duration::from_secs(2), "{op}: {:?}", t.elapsed());
    }
}
