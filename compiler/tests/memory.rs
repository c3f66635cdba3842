//! Peak memory of the compiler, measured by counting every heap allocation of this test
//! process: the bound README "Limits and guarantees" states, on a real model and on files made
//! to amplify memory. One test function, so that no other test allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::{Compiler, ErrorKind, Limits, Options};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The heap `f` needs beyond what was allocated before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed) - base)
}

/// The stated bound: 128 MiB plus four times the bytes of the model and its external data.
/// (The constant covers the most nodes a model may have, Limits::max_nodes: each layer of a
/// 20,000-node graph is some 750 bytes of generated source.)
fn bound(file_bytes: u64) -> usize {
    (128 << 20) + 4 * file_bytes as usize
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models").join(rel);
    p.is_file().then_some(p)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A protobuf length-delimited field.
fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(tag << 3) | 2];
    let mut len = payload.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(payload);
    out
}

#[test]
fn peak_memory_stays_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, PathBuf)> = Vec::new();

    // 40 MB of empty nodes (2 bytes each on the wire, ~170 decoded).
    let opset = field(8, &[0x10, 13]);
    let graph = field(7, &[0x0a, 0x00].repeat(20_000_000));
    cases.push(("empty nodes".into(), write(dir.path(), "nodes.onnx", &[opset.clone(), graph].concat())));
    // 8 MB of one-byte varints in a packed int64 field of an initializer (8x when decoded).
    let tensor = [field(1, &vec![1u8; 8 << 20]), vec![0x10, 7]].concat();
    let graph = field(7, &field(5, &tensor));
    cases.push(("packed varints".into(), write(dir.path(), "varints.onnx", &[opset.clone(), graph].concat())));
    // A 100 MB graph input name.
    let name = "x".repeat(100 << 20);
    let m = ModelBuilder::new(13).input(&name, &[1, 4]).node("Relu", &[&name], &["y"], vec![]).output("y");
    cases.push(("long input name".into(), write(dir.path(), "name.onnx", &m.to_bytes())));
    // Many nodes, each with many attributes of empty lists.
    let attr = field(5, &[field(1, b"a"), vec![0xa0, 0x01, 7]].concat());
    let node = field(1, &[field(4, b"Relu"), attr.repeat(10_000)].concat());
    let graph = field(7, &node.repeat(1000));
    cases.push(("many attributes".into(), write(dir.path(), "attrs.onnx", &[opset, graph].concat())));

    // The most nodes a model may have, compiled to source: a chain, and as many branches joined
    // by one Concat (every step then copies).
    for (what, wide) in [("20,000-node chain", false), ("20,000-node Concat", true)] {
        let n = Limits::default().max_nodes - 2;
        let mut b = ModelBuilder::new(13).input("x", &[1, 4]);
        let mut names = Vec::new();
        for i in 0..n {
            let (src, out) = (if wide || i == 0 { "x".to_string() } else { format!("t{}", i - 1) }, format!("t{i}"));
            b = b.node(if i % 2 == 0 { "Relu" } else { "Sigmoid" }, &[&src], &[&out], vec![]);
            names.push(out);
        }
        let b = if wide {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            b.node("Concat", &refs, &["y"], vec![attr_int("axis", 1)]).output("y")
        } else {
            b.output(names.last().unwrap())
        };
        let path = write(dir.path(), "many.onnx", &b.to_bytes());
        let size = std::fs::metadata(&path).unwrap().len();
        let (source, peak) = peak_during(|| {
            let compiled = Compiler::new(&path).compile().unwrap();
            compiled.source(mobilenet_compiler::codegen::Weights::IncludeBytes(quote::quote!("w.bin"))).unwrap().len()
        });
        eprintln!("{what}: {size} bytes, {source} bytes of source, peak heap {peak} bytes");
        assert!(peak <= bound(size), "{what}: peak heap {peak} bytes for a {size}-byte file");
    }

    for (what, path) in &cases {
        let size = std::fs::metadata(path).unwrap().len();
        let (r, peak) = peak_during(|| Compiler::new(path).compile());
        let e = r.expect_err(what);
        assert!(matches!(e.kind(), ErrorKind::Limit | ErrorKind::Decode | ErrorKind::Invalid), "{what}: {e}");
        assert!(peak <= bound(size), "{what}: peak heap {peak} bytes for a {size}-byte file ({e})");
        eprintln!("{what}: {size} bytes, refused with a peak heap of {peak} bytes: {e}");
    }

    // A real model, compiled all the way to source, within the same bound.
    let Some(v2) = shared("pretrained/coral_mobilenet_v2_1.0_224_quant.float.onnx") else {
        eprintln!("../shared/models is absent: the real-model case is skipped");
        return;
    };
    let size = std::fs::metadata(&v2).unwrap().len();
    let (source, peak) = peak_during(|| {
        let compiled = Compiler::new(&v2).options(Options::default()).compile().unwrap();
        let bytes = mobilenet_compiler::codegen::weight_bytes(&compiled.program);
        let src = compiled.source(mobilenet_compiler::codegen::Weights::IncludeBytes(quote::quote!("w.bin"))).unwrap();
        (src.len(), bytes.len())
    });
    eprintln!("MobileNetV2: {size} bytes, compiled with a peak heap of {peak} bytes ({source:?})");
    assert!(peak <= bound(size), "MobileNetV2: peak heap {peak} bytes for a {size}-byte file");
}
