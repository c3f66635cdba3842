//! `mobilenet_model!` problems are compile errors at the macro's arguments, never a proc-macro
//! panic: a crate with one bad invocation per kind of problem is built with cargo, and each
//! diagnostic is checked for its message and for the source text it points at.

use std::path::Path;
use std::process::Command;

#[test]
fn problems_are_compile_errors_at_the_arguments() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let dir = tempfile_dir("macro-errors");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    // An ONNX file using an op the compiler does not support.
    let tanh = mobilenet_compiler::onnx::builder::ModelBuilder::new(13)
        .input("x", &[1, 4])
        .node("Tanh", &["x"], &["y"], vec![])
        .output("y")
        .to_bytes();
    std::fs::write(dir.join("tanh.onnx"), tanh).unwrap();
    // Pads whose sum overflows i64 (the macro runs with overflow checks on).
    let pads = mobilenet_compiler::onnx::builder::ModelBuilder::new(13)
        .input("x", &[1, 4])
        .tensor(mobilenet_compiler::onnx::builder::int64_tensor("p", &[0, 1 << 62, 0, 1 << 62]))
        .node("Pad", &["x", "p"], &["y"], vec![])
        .output("y")
        .to_bytes();
    std::fs::write(dir.join("pads.onnx"), pads).unwrap();
    let fixture = root.join("models/fixtures/paddle_like.dynhw.op11.onnx");
    let fixture = fixture.display();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"macro-errors\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\nmobilenet-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            root.join("runtime").display().to_string()
        ),
    )
    .unwrap();
    let src = format!(
        r#"mobilenet_runtime::mobilenet_model!(pub Missing, "no/such/model.onnx");
mobilenet_runtime::mobilenet_model!(pub Unsupported, "tanh.onnx");
mobilenet_runtime::mobilenet_model!(pub Symbolic, "{fixture}");
mobilenet_runtime::mobilenet_model!(pub BadShape, "{fixture}", input_shape = [1, 3, 16]);
mobilenet_runtime::mobilenet_model!(pub BadSetting, "{fixture}", optimise = 2);
mobilenet_runtime::mobilenet_model!(pub NoThreads, "{fixture}", input_shape = [1, 3, 48, 192], threads = 0);
mobilenet_runtime::mobilenet_model!(pub Overflow, "pads.onnx");
mobilenet_runtime::mobilenet_model!(pub r#RawName, "{fixture}", input_shape = [1, 3, 48, 192]);
"#
    );
    std::fs::write(dir.join("src/lib.rs"), &src).unwrap();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--message-format=json", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("macro-errors-target"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crate must not build");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stdout.contains("proc macro panicked"), "{stderr}");
    // (message fragment, the source text the primary span covers)
    let expected = [
        ("no/such/model.onnx: No such file", "\"no/such/model.onnx\""),
        ("operator ai.onnx::Tanh is not supported", "\"tanh.onnx\""),
        ("symbolic dimension 2", &format!("\"{fixture}\"")),
        ("has rank 4", "[1, 3, 16]"),
        ("unknown setting `optimise`", "optimise"),
        ("threads must be 1 to", "0"),
        ("pad 4611686018427387904 is larger than any tensor", "\"pads.onnx\""),
    ];
    let diagnostics: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-message" && v["message"]["level"] == "error")
        .map(|v| v["message"].clone())
        .collect();
    // A raw identifier is a name like any other.
    assert!(!stdout.contains("RawName"), "r#RawName must compile: {diagnostics:#?}");
    for (needle, spanned) in expected {
        let d = diagnostics
            .iter()
            .find(|d| d["message"].as_str().unwrap_or("").contains(needle))
            .unwrap_or_else(|| panic!("no error containing {needle:?}; got {diagnostics:#?}"));
        let span =
            d["spans"].as_array().and_then(|s| s.iter().find(|s| s["is_primary"] == true)).expect("a primary span");
        let text: String = span["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let line = t["text"].as_str().unwrap();
                let (a, b) = (
                    t["highlight_start"].as_u64().unwrap() as usize - 1,
                    t["highlight_end"].as_u64().unwrap() as usize - 1,
                );
                line[a..b].to_string()
            })
            .collect();
        assert_eq!(text, spanned, "error {needle:?} points at the wrong text");
    }
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}
