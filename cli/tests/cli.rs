//! `mobilenetc` as a user meets it: exit status, messages, output formats. Malformed models are
//! built in code (onnx::builder) or cut from the project's fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mobilenet_compiler::onnx::builder::*;
use mobilenet_compiler::onnx::proto::ModelProto;
use prost::Message;

fn mobilenetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mobilenetc")).args(args).output().expect("mobilenetc runs")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures").join(name)
}

/// Asserts exit status 2, a one-line `error:` naming `needle`, and no panic.
fn assert_bad_input(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit status for {needle:?}; stderr: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("internal"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.to_lowercase().contains(&needle.to_lowercase()), "expected {needle:?} in: {stderr}");
}

fn write_model(dir: &Path, name: &str, model: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

/// x[1,2,4,4] -> Conv(w[3,C,1,1]) -> y
fn small_conv(w_in_channels: i64) -> ModelBuilder {
    let w: Vec<f32> = (0..3 * w_in_channels).map(|i| i as f32 * 0.1).collect();
    ModelBuilder::new(13)
        .input("x", &[1, 2, 4, 4])
        .initializer("w", &[3, w_in_channels, 1, 1], &w)
        .node("Conv", &["x", "w"], &["y"], vec![attr_ints("kernel_shape", &[1, 1])])
        .output("y")
}

fn stats(path: &Path) -> Output {
    mobilenetc(&["stats", path.to_str().unwrap()])
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.onnx");
    std::fs::write(&p, b"").unwrap();
    assert_bad_input(&stats(&p), "empty");
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed pseudo-random sequence (xorshift) so failures reproduce.
    let mut s = 0x9e3779b97f4a7c15u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect();
    let p = dir.path().join("random.onnx");
    std::fs::write(&p, bytes).unwrap();
    assert_bad_input(&stats(&p), "not");
}

#[test]
fn truncated_model() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("torch_v2_like.dynbatch.op13.onnx")).unwrap();
    let p = dir.path().join("truncated.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad_input(&stats(&p), "protobuf decoding failed");
}

#[test]
fn undefined_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let m = ModelBuilder::new(13).input("x", &[1, 4]).node("Relu", &["nope"], &["y"], vec![]).output("y").build();
    let out = stats(&write_model(dir.path(), "undefined.onnx", &m));
    assert_bad_input(&out, "uses tensor 'nope', which no node, initializer or graph input defines");
    assert_bad_input(&out, "node 'Relu_0' (Relu");
}

#[test]
fn cycle() {
    let dir = tempfile::tempdir().unwrap();
    let m = ModelBuilder::new(13)
        .input("x", &[1, 4])
        .node("Add", &["x", "b"], &["a"], vec![])
        .node("Relu", &["a"], &["b"], vec![])
        .output("b")
        .build();
    assert_bad_input(&stats(&write_model(dir.path(), "cycle.onnx", &m)), "cycle");
}

#[test]
fn conv_weight_disagrees_with_input_channels() {
    let dir = tempfile::tempdir().unwrap();
    let out = stats(&write_model(dir.path(), "conv.onnx", &small_conv(5).build()));
    assert_bad_input(&out, "expects 5 input channels (group 1) but the input [1, 2, 4, 4] has 2");
    assert_bad_input(&out, "(Conv, opset 13)");
}

#[test]
fn a_good_small_model_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = stats(&write_model(dir.path(), "conv.onnx", &small_conv(2).build()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn external_model(location: &str, offset: u64, length: u64) -> ModelProto {
    ModelBuilder::new(13)
        .input("x", &[1, 2, 4, 4])
        .tensor(external_tensor("w", &[3, 2, 1, 1], location, offset, length))
        .node("Conv", &["x", "w"], &["y"], vec![])
        .output("y")
        .build()
}

#[test]
fn external_data_absolute_location() {
    let dir = tempfile::tempdir().unwrap();
    let m = external_model("/etc/passwd", 0, 24);
    assert_bad_input(
        &stats(&write_model(dir.path(), "m.onnx", &m)),
        "must be a relative path inside the model's folder",
    );
}

#[test]
fn external_data_climbing_out() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("model");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(dir.path().join("secret.bin"), [0u8; 24]).unwrap();
    let m = external_model("../secret.bin", 0, 24);
    assert_bad_input(&stats(&write_model(&inner, "m.onnx", &m)), "must be a relative path inside the model's folder");
}

#[cfg(unix)]
#[test]
fn external_data_symlink_escape() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("model");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(dir.path().join("secret.bin"), [0u8; 24]).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.bin"), inner.join("w.bin")).unwrap();
    let m = external_model("w.bin", 0, 24);
    assert_bad_input(&stats(&write_model(&inner, "m.onnx", &m)), "outside the model's folder");
}

#[test]
fn external_data_file_missing() {
    let dir = tempfile::tempdir().unwrap();
    let m = external_model("weights.bin", 0, 24);
    assert_bad_input(&stats(&write_model(dir.path(), "m.onnx", &m)), "cannot be opened");
}

#[test]
fn external_data_past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("weights.bin"), [0u8; 30]).unwrap();
    let m = external_model("weights.bin", 16, 24);
    assert_bad_input(&stats(&write_model(dir.path(), "m.onnx", &m)), "runs past the end");
}

#[test]
fn external_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    std::fs::write(dir.path().join("weights.bin"), [vec![0u8; 8], values].concat()).unwrap();
    let m = external_model("weights.bin", 8, 24);
    let out = stats(&write_model(dir.path(), "m.onnx", &m));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dimension_of_2_pow_40() {
    let dir = tempfile::tempdir().unwrap();
    let m = ModelBuilder::new(13).input("x", &[1, 1 << 40]).node("Relu", &["x"], &["y"], vec![]).output("y").build();
    assert_bad_input(&stats(&write_model(dir.path(), "huge.onnx", &m)), "limit");
    let w = ModelBuilder::new(13)
        .input("x", &[1, 4])
        .tensor(float_tensor("w", &[1 << 40, 4], &[]))
        .node("MatMul", &["x", "w"], &["y"], vec![])
        .output("y")
        .build();
    assert_bad_input(&stats(&write_model(dir.path(), "huge_w.onnx", &w)), "dimension of 1099511627776");
}

#[test]
fn unsupported_op() {
    let dir = tempfile::tempdir().unwrap();
    let m = ModelBuilder::new(13).input("x", &[1, 4]).node("Tanh", &["x"], &["y"], vec![]).output("y").build();
    let out = stats(&write_model(dir.path(), "tanh.onnx", &m));
    assert_bad_input(&out, "operator ai.onnx::Tanh is not supported");
    assert_bad_input(&out, "node 'Tanh_0' (Tanh, opset 13)");
    assert_bad_input(&out, "Conv, DequantizeLinear, Div");
}

#[test]
fn missing_file_and_bad_usage() {
    assert_bad_input(&mobilenetc(&["stats", "/nonexistent/model.onnx"]), "No such file");
    let out = mobilenetc(&["stats"]);
    assert_eq!(out.status.code(), Some(2));
    let out = mobilenetc(&["dump", fixture("v3_like.op14.onnx").to_str().unwrap(), "--format", "svg"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn symbolic_dimensions_need_a_size() {
    let model = fixture("paddle_like.dynhw.op11.onnx");
    let out = stats(&model);
    assert_bad_input(&out, "input 'x' has a symbolic dimension 2 ('?')");
    assert_bad_input(&out, "--input-shape");
    let ok = mobilenetc(&["stats", model.to_str().unwrap(), "--input-shape", "1,3,16,24"]);
    assert!(ok.status.success());
    let wrong = mobilenetc(&["stats", model.to_str().unwrap(), "--input-shape", "1,4,16,24"]);
    assert_bad_input(&wrong, "fixes dimension 1 at 3");
}

#[test]
fn batch_option() {
    let model = fixture("torch_v2_like.dynbatch.op13.onnx");
    let out = mobilenetc(&["dump", model.to_str().unwrap(), "--batch", "4"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("input 'input' : f32[4x3x32x32]"));
    let fixed = fixture("v3_like.op14.onnx");
    assert_bad_input(&mobilenetc(&["stats", fixed.to_str().unwrap(), "--batch", "4"]), "fixes the batch at 1");
}

#[test]
fn dump_text_names_nodes_shapes_and_fusions() {
    let model = fixture("keras_like.nhwc.op13.onnx");
    let out = mobilenetc(&["dump", model.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stage optimized"), "{text}");
    // The Relu6 spelled Max+Min and the Mul/Add BatchNorm ended in the depthwise conv.
    let dw = text.lines().find(|l| l.contains("Conv(depthwise)") && l.contains("s=1x1")).expect("a depthwise conv");
    assert!(
        dw.contains("act=relu6") && dw.contains("Mul_") && dw.contains("Min_") && dw.contains("f32[1x8x13x13]"),
        "{dw}"
    );
    let imported = mobilenetc(&["dump", model.to_str().unwrap(), "--stage", "imported"]);
    let text = String::from_utf8_lossy(&imported.stdout);
    assert!(text.contains("= Max (") && text.contains("= Pad pads="), "{text}");
}

/// `profile` times every step, and says which fused blocks split their hidden channels
/// across the threads rather than their rows (a run-time choice: few rows per thread).
#[test]
fn profile_lists_steps_and_channel_splits() {
    let model = fixture("torch_v2_like.dynbatch.op13.onnx");
    let blocks = |threads: &str| {
        let out = mobilenetc(&["profile", model.to_str().unwrap(), "--threads", threads, "--runs", "2"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains(&format!("{threads} thread(s)")) && text.contains("gemm 1x24x10"), "{text}");
        text.lines().filter(|l| l.contains("block:")).map(str::to_owned).collect::<Vec<_>>()
    };
    // 16x16 -> 16x16 (16 hidden channels), then 8 output rows with 96 and 144 hidden channels:
    // on 3 threads (fewer than 4 rows each) the last two split their channels; on 2, none does.
    let three = blocks("3");
    let split: Vec<bool> = three.iter().map(|l| l.ends_with("hidden channels split across 3 threads")).collect();
    assert_eq!(split, [false, true, true], "{three:#?}");
    assert!(blocks("2").iter().all(|l| !l.contains("split across")));
}

#[test]
fn dump_json_is_json() {
    let model = fixture("v3_like.op14.onnx");
    let out = mobilenetc(&["dump", model.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let nodes = v["nodes"].as_array().expect("nodes");
    assert!(
        nodes.iter().any(|n| n["op"] == "Conv(depthwise)" && n["attrs"].as_str().unwrap().contains("act=hardswish"))
    );
    assert_eq!(v["stage"], "optimized");
}

#[test]
fn dump_dot_renders_in_graphviz() {
    let dir = tempfile::tempdir().unwrap();
    for (model, shape) in
        [("paddle_like.dynhw.op11.onnx", "1,3,16,24"), ("torch_v2_like.dynbatch.op13.onnx", "1,3,32,32")]
    {
        let dot = dir.path().join("g.dot");
        let path = fixture(model);
        let args =
            ["dump", path.to_str().unwrap(), "--input-shape", shape, "--format", "dot", "-o", dot.to_str().unwrap()];
        let out = mobilenetc(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        match Command::new("dot").args(["-Tsvg", dot.to_str().unwrap()]).output() {
            Ok(svg) => {
                assert!(svg.status.success(), "dot rejected the graph: {}", String::from_utf8_lossy(&svg.stderr));
                assert!(String::from_utf8_lossy(&svg.stdout).contains("<svg"));
            }
            Err(_) if std::env::var_os("CI").is_none() => {
                eprintln!("note: Graphviz 'dot' is not installed; the DOT output was not rendered");
            }
            Err(e) => panic!("CI must have Graphviz installed: {e}"),
        }
    }
}

#[test]
fn stats_json_has_the_documented_keys() {
    let model = fixture("torch_v2_like.dynbatch.op13.onnx");
    let out = mobilenetc(&["stats", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    for key in ["params", "macs", "weights_bytes", "nodes_imported", "nodes_optimized", "fusions", "ops_optimized"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["fusions"]["batchnorm->conv"], 10);
    assert_eq!(v["fusions"]["residual_add->conv"], 1);
    assert!(v["ops_optimized"].get("BatchNormalization").is_none());
    // The stem: 3x3 conv, 3 -> 16 channels, 32x32 -> 16x16 output.
    assert_eq!(v["layers"][0]["macs"], 16 * 16 * 16 * 3 * 9);
}

#[test]
fn run_interpret_writes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("v3_like.op14.onnx");
    let y = dir.path().join("y.npy");
    let input = fixture("v3_like.op14.ref_in.npy");
    let out = mobilenetc(&[
        "run",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
        "--interpret",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = mobilenet_compiler::npy::read(&y, 1 << 30).unwrap();
    let want = mobilenet_compiler::npy::read(&fixture("v3_like.op14.ref_out.npy"), 1 << 30).unwrap();
    let (g, w) = (got.as_f32().unwrap(), want.as_f32().unwrap());
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() <= 1e-4 * scale + 1e-6));
}

/// The runner crates `run` and `bench` build go under the target folder, not the user's cache.
fn compiled_cmd(args: &[&str]) -> Output {
    compiled_cmd_linked(args, "static")
}

/// The same, with the runner linked as `link` says (`MOBILENETC_LINK`).
fn compiled_cmd_linked(args: &[&str], link: &str) -> Output {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mobilenetc-cache");
    Command::new(env!("CARGO_BIN_EXE_mobilenetc"))
        .args(args)
        .env("MOBILENETC_CACHE", cache)
        .env("MOBILENETC_LINK", link)
        .output()
        .expect("mobilenetc runs")
}

#[test]
fn emit_writes_formatted_source_and_blob() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net.rs");
    let model = fixture("v3_like.op14.onnx");
    let r = mobilenetc(&["emit", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--struct-name", "Net"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let source = std::fs::read_to_string(&out).unwrap();
    let blob = std::fs::read(dir.path().join("net.weights.bin")).unwrap();
    syn::parse_file(&source).expect("the generated source parses");
    assert!(source.contains("pub struct Net<"), "struct name");
    assert!(source.contains("include_bytes!(\"net.weights.bin\")"));
    assert!(source.contains(&format!("Aligned<[u8; {}]>", blob.len())));
    // A comment names the ONNX nodes of every layer, e.g. the SE block's scaling Mul.
    assert!(source.lines().any(|l| l.trim_start().starts_with("// [") && l.contains("(ONNX: Mul_")), "{source}");
    // No weights as float literals: the only float literals are activation bounds.
    let is_float = |t: &&str| t.matches('.').count() == 1 && !t.starts_with('.') && !t.ends_with('.');
    let floats = source.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter(is_float).count();
    assert!(floats < 40, "{floats} float literals in the source");
    let not_rs = mobilenetc(&["emit", model.to_str().unwrap(), "-o", dir.path().join("net.txt").to_str().unwrap()]);
    assert_bad_input(&not_rs, "must be a .rs file");
}

#[test]
fn run_compiled_matches_the_reference_and_bench_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("paddle_like.dynhw.op11.onnx");
    let input = fixture("paddle_like.dynhw.op11.ref_in.npy");
    let y = dir.path().join("y.npy");
    // The symbolic H and W come from the input array's shape.
    let out = compiled_cmd(&[
        "run",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compiled code"));
    let got = mobilenet_compiler::npy::read(&y, 1 << 30).unwrap();
    let want = mobilenet_compiler::npy::read(&fixture("paddle_like.dynhw.op11.ref_out.npy"), 1 << 30).unwrap();
    let (g, w) = (got.as_f32().unwrap(), want.as_f32().unwrap());
    assert_eq!(got.shape, want.shape);
    assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() <= 1e-4 + 1e-6), "{g:?} vs {w:?}");

    let bench = compiled_cmd(&[
        "bench",
        model.to_str().unwrap(),
        "--input-shape",
        "1,3,16,24",
        "--runs",
        "5",
        "--warmup",
        "1",
        "--json",
    ]);
    assert!(bench.status.success(), "{}", String::from_utf8_lossy(&bench.stderr));
    let v: serde_json::Value = serde_json::from_slice(&bench.stdout).expect("JSON");
    for key in ["median_ms", "min_ms", "runs", "batch", "simd", "simd_path", "arena_bytes"] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["runs"], 5);
    assert!(v["min_ms"].as_f64().unwrap() <= v["median_ms"].as_f64().unwrap());
    let wrong = compiled_cmd(&[
        "run",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
        "--input-shape",
        "1,3,16,32",
    ]);
    assert_bad_input(&wrong, "the model takes [1, 3, 16, 32]");
    let typo = Command::new(env!("CARGO_BIN_EXE_mobilenetc"))
        .args(["bench", model.to_str().unwrap(), "--input-shape", "1,3,16,24", "--runs", "1"])
        .env("MOBILENETC_CACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("mobilenetc-cache"))
        .env("MOBILENET_WEIGHTS", "huge")
        .output()
        .unwrap();
    assert_bad_input(&typo, "MOBILENET_WEIGHTS=huge: expected `embedded` or `huge-pages`");
    let typo = compiled_cmd_linked(&["bench", model.to_str().unwrap(), "--input-shape", "1,3,16,24"], "shared");
    assert_bad_input(&typo, "MOBILENETC_LINK=shared: expected `static` or `dynamic`");
}

/// Whether an ELF file asks for a dynamic loader (has a PT_INTERP program header).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| u32::from_le_bytes(elf[phoff + i * size..][..4].try_into().unwrap()) == 3)
}

/// The runner is linked statically on x86_64 Linux (it starts without the dynamic loader), and
/// dynamically when asked.
#[test]
fn runner_is_linked_statically_unless_asked() {
    let model = fixture("v3_like.op14.onnx");
    for (link, dynamic) in [("static", false), ("dynamic", true)] {
        let out = compiled_cmd_linked(&["bench", model.to_str().unwrap(), "--print-binary"], link);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let binary = std::fs::read(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
        assert_eq!(has_interpreter(&binary), dynamic, "MOBILENETC_LINK={link}");
    }
}

/// The generated code of full models under valgrind memcheck: no invalid read or write, no use
/// of uninitialised memory, on the scalar and AVX2 paths (valgrind does not run AVX-512).
#[test]
fn generated_code_is_clean_under_valgrind() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have valgrind installed");
        eprintln!("note: valgrind is not installed; skipped");
        return;
    }
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/torch/mobilenet_v2.tv.legacy.op13.onnx");
    let mut models = vec![fixture("v3_like.op14.onnx"), fixture("keras_like.nhwc.op13.onnx")];
    if shared.exists() {
        models.push(shared);
    } else {
        eprintln!("note: ../shared/models is absent; MobileNetV2 is not checked under valgrind");
    }
    for model in models {
        // Linked dynamically: memcheck checks heap blocks through the C library's allocator.
        let out =
            compiled_cmd_linked(&["bench", model.to_str().unwrap(), "--threads", "2", "--print-binary"], "dynamic");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let binary = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // `once` reads the embedded weights (mapped on a helper thread meanwhile); `bench` (one
        // run) reads the copy on huge pages.
        for (simd, threads, mode) in [("scalar", "1", &["once"][..]), ("avx2", "2", &["bench", "0", "1"][..])] {
            let run = Command::new("valgrind")
                .args(["--error-exitcode=99", "--quiet", &binary])
                .args(mode)
                .env("MOBILENET_SIMD", simd)
                .env("MOBILENET_THREADS", threads)
                .output()
                .unwrap();
            assert!(
                run.status.success(),
                "{} on {simd} with {threads} threads: {}",
                model.display(),
                String::from_utf8_lossy(&run.stderr)
            );
        }
    }
}

/// `mobilenetc ARGS`, killed after `secs` seconds: a hang is a failure, not a stuck test.
fn mobilenetc_within(secs: u64, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mobilenetc"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mobilenetc runs");
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() >= secs {
            let _ = child.kill();
            panic!("mobilenetc {args:?} did not end within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo").arg(path).status().is_ok_and(|s| s.success())
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.onnx");
    assert!(mkfifo(&fifo), "mkfifo works here");
    assert_bad_input(&mobilenetc_within(10, &["stats", fifo.to_str().unwrap()]), "is a FIFO, not a regular file");
    assert_bad_input(&mobilenetc_within(10, &["stats", "/dev/zero"]), "is a device, not a regular file");
    // The same for an input array and for external data.
    let model = write_model(dir.path(), "m.onnx", &small_conv(2).build());
    let out = dir.path().join("y.npy");
    for input in ["/dev/zero", "/dev/urandom", fifo.to_str().unwrap()] {
        let args = ["run", model.to_str().unwrap(), "--input", input, "--output", out.to_str().unwrap(), "--interpret"];
        assert_bad_input(&mobilenetc_within(10, &args), "not a regular file");
    }
    let data = dir.path().join("w.data");
    assert!(mkfifo(&data));
    let m = write_model(dir.path(), "ext.onnx", &external_model("w.data", 0, 24));
    assert_bad_input(&mobilenetc_within(10, &["stats", m.to_str().unwrap()]), "is a FIFO, not a regular file");
}

#[test]
fn a_path_cannot_inject_code_into_the_source() {
    let dir = tempfile::tempdir().unwrap();
    // A file name with line breaks, quotes and (on Unix) a byte that is not UTF-8; a node name
    // with a comment end and a line break.
    let mut name = std::ffi::OsString::from("evil\npub fn injected() {}\n \"q\" ");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let mut bytes = name.into_vec();
        bytes.extend_from_slice(b"\xff.onnx");
        name = std::ffi::OsString::from_vec(bytes);
    }
    #[cfg(not(unix))]
    name.push(".onnx");
    let model = dir.path().join(&name);
    let mut m = small_conv(2).build();
    m.graph.as_mut().unwrap().node[0].name = "conv */ pub fn injected2() {} /*\n".into();
    std::fs::write(&model, m.encode_to_vec()).unwrap();
    let rs = dir.path().join("net.rs");
    let out = Command::new(env!("CARGO_BIN_EXE_mobilenetc"))
        .arg("emit")
        .arg(&model)
        .args(["-o", rs.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let src = std::fs::read_to_string(&rs).unwrap();
    let file = syn::parse_file(&src).expect("the source parses");
    // The text stays in comments and docs: the file declares no function of its own.
    assert!(!file.items.iter().any(|i| matches!(i, syn::Item::Fn(_))), "the name reached the code");
    for line in src.lines().filter(|l| l.contains("injected")) {
        let l = line.trim_start();
        assert!(l.starts_with("//") && !l.contains("*/"), "{line}");
    }
    assert!(src.contains("evil\\npub fn injected() {}\\n \"q\" \\xff.onnx"), "escaped, still readable");
    assert!(src.contains("conv *\\/ pub fn injected2() {} /*\\n"), "escaped, still readable");
}

#[test]
fn an_output_in_the_way_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.onnx", &small_conv(2).build());
    let (rs, bin) = (dir.path().join("x.rs"), dir.path().join("x.weights.bin"));
    std::fs::write(&bin, b"old").unwrap();
    std::fs::create_dir(&rs).unwrap();
    let out = mobilenetc(&["emit", model.to_str().unwrap(), "-o", rs.to_str().unwrap()]);
    assert_bad_input(&out, "is a directory, not a regular file");
    assert_eq!(std::fs::read(&bin).unwrap(), b"old", "the previous blob is untouched");
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["m.onnx", "x.rs", "x.weights.bin"], "no temporary file is left");
}

#[test]
fn struct_names_are_checked_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.onnx", &small_conv(2).build());
    let rs = dir.path().join("net.rs");
    let emit =
        |name: &str| mobilenetc(&["emit", model.to_str().unwrap(), "-o", rs.to_str().unwrap(), "--struct-name", name]);
    let out = emit("r#Foo");
    assert!(out.status.success(), "a raw identifier is a valid name: {}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&rs).unwrap().contains("pub struct r#Foo"));
    for bad in ["r#self", "r#crate", "Self", "_", "1Net", "Net Net", "Net\nfn", "", "r#"] {
        assert_bad_input(&emit(bad), "is not a valid Rust type name");
    }
}

#[test]
fn input_shapes_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.onnx", &small_conv(2).build());
    let m = model.to_str().unwrap();
    let out = mobilenetc(&["stats", m, "--input-shape", "1,2,4,4", "--input-shape", "1,2,4,4"]);
    assert_bad_input(&out, "is given two shapes");
    let out = mobilenetc(&["stats", m, "--input-shape", "x=1,2,4,4", "--input-shape", "1,2,4,4"]);
    assert_bad_input(&out, "is given two shapes");
    assert!(mobilenetc(&["stats", m, "--input-shape", "x=1,2,4,4"]).status.success());
}

/// Whether `scripts/setup-cross` has run here (the cross tests skip, with a note, otherwise).
fn cross_tools() -> bool {
    let ok = ["qemu-aarch64", "node", "aarch64-linux-gnu-gcc"].iter().all(|t| {
        Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success())
    }) && Command::new("rustup")
        .args(["run", "debian-web", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "note: the cross toolchains are missing (scripts/setup-cross installs them); --target runs are not tested"
        );
    }
    ok
}

#[test]
fn run_for_each_target_matches_the_reference() {
    if !cross_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("torch_v2_like.dynbatch.op13.onnx");
    let input = fixture("torch_v2_like.dynbatch.op13.ref_in.npy");
    let want = mobilenet_compiler::npy::read(&fixture("torch_v2_like.dynbatch.op13.ref_out.npy"), 1 << 30).unwrap();
    for (target, simd) in [("aarch64-unknown-linux-gnu", "neon"), ("wasm32-wasip1", "simd128")] {
        for level in ["scalar", simd] {
            let y = dir.path().join(format!("{target}-{level}.npy"));
            let (m, i, o) = (model.to_str().unwrap(), input.to_str().unwrap(), y.to_str().unwrap());
            let out = compiled_cmd(&["run", m, "--input", i, "--output", o, "--target", target, "--simd", level]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{target} {level}: {stderr}");
            assert!(stderr.contains(&format!("compiled code for {target}, {level}")), "{stderr}");
            let got = mobilenet_compiler::npy::read(&y, 1 << 30).unwrap();
            let (g, w) = (got.as_f32().unwrap(), want.as_f32().unwrap());
            assert_eq!(got.shape, want.shape);
            let scale = w.iter().fold(0f32, |s, v| s.max(v.abs()));
            assert!(
                g.iter().zip(w).all(|(a, b)| (a - b).abs() <= 1e-4 * scale + 1e-6),
                "{target} {level}: {g:?} vs {w:?}"
            );
        }
    }
    // A level the target does not have is refused before anything is built.
    let (m, i) = (model.to_str().unwrap(), input.to_str().unwrap());
    let y = dir.path().join("y.npy");
    let out = compiled_cmd(&[
        "run",
        m,
        "--input",
        i,
        "--output",
        y.to_str().unwrap(),
        "--target",
        "wasm32-wasip1",
        "--simd",
        "avx2",
    ]);
    assert_bad_input(&out, "--target wasm32-wasip1 has no --simd avx2 path");
}

#[test]
fn a_missing_cross_toolchain_names_the_command_that_installs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (model, input) =
        (fixture("torch_v2_like.dynbatch.op13.onnx"), fixture("torch_v2_like.dynbatch.op13.ref_in.npy"));
    let y = dir.path().join("y.npy");
    for target in ["aarch64-unknown-linux-gnu", "wasm32-wasip1"] {
        // An empty PATH: no rustup, no qemu, no node.
        let out = Command::new(env!("CARGO_BIN_EXE_mobilenetc"))
            .args(["run", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--output"])
            .arg(&y)
            .args(["--target", target])
            .env("PATH", dir.path())
            .output()
            .unwrap();
        assert_bad_input(&out, "scripts/setup-cross");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("--target {target} needs")));
        assert!(!y.exists(), "nothing written");
    }
}
