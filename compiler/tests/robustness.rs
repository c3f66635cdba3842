//! No panic on any input: mutated versions of the project's fixtures go through decoding,
//! import and every pass, and must end in Ok or a clean error. (The coverage-guided fuzzer in
//! fuzz/ goes further; this is the quick, always-run version.)

use std::path::Path;

use mobilenet_compiler::{Options, import, onnx, optimize, passes};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => b.truncate(rng.below(b.len())),
            3 => {
                let i = rng.below(b.len());
                b.insert(i, rng.next() as u8);
            }
            _ => {
                // Overwrite a varint-sized run: hits lengths, dims and enum values.
                let i = rng.below(b.len());
                for j in i..(i + 4).min(b.len()) {
                    b[j] = 0x80 | rng.next() as u8;
                }
            }
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

/// How far a mutated model got: 0 not decoded, 1 decoded, 2 imported, 3 typed, 4 optimised.
/// Structural mutations: decode, change one meaningful field, encode. These reach the importer
/// and the passes far more often than byte flips.
fn mutate_structure(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    use prost::Message;
    let mut model = onnx::decode_model(bytes, &mobilenet_compiler::Limits::default()).expect("fixtures decode");
    let graph = model.graph.as_mut().expect("fixtures have a graph");
    const VALUES: [i64; 10] = [0, 1, -1, 2, 3, 7, -3, 1 << 20, 1 << 40, i64::MIN];
    const OPS: [&str; 8] = ["Conv", "Relu", "Reshape", "Gemm", "Concat", "Slice", "Transpose", "MaxPool"];
    let names: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.clone())
        .chain(graph.initializer.iter().map(|t| t.name.clone()))
        .collect();
    for _ in 0..1 + rng.below(3) {
        let ni = rng.below(graph.node.len());
        let node = &mut graph.node[ni];
        match rng.below(7) {
            0 if !node.attribute.is_empty() => {
                let a = rng.below(node.attribute.len());
                let v = VALUES[rng.below(VALUES.len())];
                let attr = &mut node.attribute[a];
                attr.i = v;
                if !attr.ints.is_empty() {
                    let k = rng.below(attr.ints.len());
                    attr.ints[k] = v;
                }
                attr.f = v as f32;
            }
            1 if !node.input.is_empty() => {
                let k = rng.below(node.input.len());
                node.input[k] = if rng.below(4) == 0 { String::new() } else { names[rng.below(names.len())].clone() };
            }
            2 => node.op_type = OPS[rng.below(OPS.len())].to_string(),
            3 if !graph.initializer.is_empty() => {
                let t = rng.below(graph.initializer.len());
                let dims = &mut graph.initializer[t].dims;
                if !dims.is_empty() {
                    let k = rng.below(dims.len());
                    dims[k] = VALUES[rng.below(VALUES.len())];
                } else {
                    dims.push(2);
                }
            }
            4 => {
                node.input.pop();
            }
            5 => {
                let other = names[rng.below(names.len())].clone();
                node.input.push(other);
            }
            _ => {
                if let Some(d) = graph
                    .input
                    .first_mut()
                    .and_then(|i| i.r#type.as_mut())
                    .and_then(|t| t.tensor_type.as_mut())
                    .and_then(|t| t.shape.as_mut())
                    && !d.dim.is_empty()
                {
                    let k = rng.below(d.dim.len());
                    d.dim[k].value = Some(onnx::proto::dimension::Value::DimValue(VALUES[rng.below(VALUES.len())]));
                }
            }
        }
    }
    model.encode_to_vec()
}

fn compile_bytes(bytes: &[u8]) -> usize {
    let options = Options::default();
    let Ok(model) = onnx::decode_model(bytes, &mobilenet_compiler::Limits::default()) else { return 0 };
    let Ok(mut g) = import::import(&model, None, &options) else { return 1 };
    if passes::shape_inference::run(&mut g, &options).is_err() {
        return 2;
    }
    if optimize(g, &options).is_err() {
        return 3;
    }
    4
}

#[test]
fn mutated_fixtures_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut reached = [0usize; 5];
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "onnx")) {
        let bytes = std::fs::read(path).unwrap();
        for round in 0..2000 {
            let mutated = if round % 4 == 0 { mutate(&bytes, &mut rng) } else { mutate_structure(&bytes, &mut rng) };
            let result = std::panic::catch_unwind(|| compile_bytes(&mutated));
            if let Ok(stage) = result {
                reached[stage] += 1;
            } else {
                let dump = std::env::temp_dir().join(format!("mobilenet-crash-{round}.onnx"));
                std::fs::write(&dump, &mutated).unwrap();
                panic!("{}: mutation {round} panicked; the input is saved at {}", path.display(), dump.display());
            }
        }
    }
    eprintln!("stages reached (undecodable, decoded, imported, typed, optimised): {reached:?}");
    // The mutations must exercise the later stages too, or the test proves little.
    assert!(reached[4] > 100 && reached[2] + reached[3] > 20, "{reached:?}");
}

/// Every input the fuzzer ever crashed on (fuzz/regressions/compile) and its committed corpus
/// (fuzz/corpus/compile), through the whole path the fuzz target takes: decode, import,
/// optimise, lower, plan, generate and format source.
#[test]
fn fuzzer_regressions_and_corpus() {
    use mobilenet_compiler::compile::source_from_bytes;
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (regressions, corpus) = (fuzz.join("regressions/compile"), fuzz.join("corpus/compile"));
    let entries = |dir: &Path| std::fs::read_dir(dir).unwrap().flatten().collect::<Vec<_>>();
    let (regressions, corpus) = (entries(&regressions), entries(&corpus));
    assert!(!regressions.is_empty() && corpus.len() > 100, "the fuzz inputs are missing");
    let mut seen = 0;
    for entry in regressions.into_iter().chain(corpus) {
        let bytes = std::fs::read(entry.path()).unwrap();
        let name = entry.path().display().to_string();
        let result = std::panic::catch_unwind(|| {
            let _ = source_from_bytes(&bytes, &Options::default(), usize::MAX);
        });
        assert!(result.is_ok(), "{name} panics");
        seen += 1;
    }
    eprintln!("{seen} fuzz inputs replayed");
}
