//! The README's Rust examples, each built and run as a new crate outside the workspace, the way a
//! user would: a block marked `// src/main.rs` (and `// build.rs`) becomes that crate's files,
//! with the bundled model at `models/`. The macro example's crate must not compile clap.
//!
//! Each crate depends on this checkout's `runtime/` (and `compiler/` for a build script) by path
//! and reuses the workspace's Cargo.lock, so it builds offline once the workspace has.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The README's ```rust blocks, split into files at `// <path>` lines.
fn examples() -> Vec<Vec<(String, String)>> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```rust" {
            continue;
        }
        let mut files: Vec<(String, String)> = Vec::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            match line.strip_prefix("// ").filter(|p| *p == "build.rs" || p.starts_with("src/")) {
                Some(path) => files.push((path.to_string(), String::new())),
                None => {
                    let (_, text) =
                        files.last_mut().expect("a README rust block must start with a `// src/main.rs` line");
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        blocks.push(files);
    }
    blocks
}

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let target = root().join("target/readme-examples");
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

fn write_crate(index: usize, files: &[(String, String)]) -> PathBuf {
    let root = root();
    let dir = root.join(format!("target/readme-examples/example{index}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::copy(
        root.join("models/pretrained/mobilenet_v2_1.0_224.onnx"),
        dir.join("models/mobilenet_v2_1.0_224.onnx"),
    )
    .expect("the bundled model");
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let build_script = files.iter().any(|(p, _)| p == "build.rs");
    let path = |p: &str| root.join(p).display().to_string().replace('\\', "/");
    let mut manifest = format!(
        "[package]\nname = \"readme-example{index}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [workspace]\n\n[dependencies]\nmobilenet-runtime = {{ path = \"{}\" }}\n",
        path("runtime")
    );
    if build_script {
        manifest += &format!("\n[build-dependencies]\nmobilenet-compiler = {{ path = \"{}\" }}\n", path("compiler"));
    }
    // The compiler runs at build time on a 14 MB model: optimise it as the workspace does.
    manifest += "\n[profile.dev.package.\"*\"]\nopt-level = 2\n";
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

#[test]
fn readme_examples_build_and_run_as_new_crates() {
    let examples = examples();
    assert!(examples.len() >= 2, "the README shows the macro and the build-script doors");
    for (i, files) in examples.iter().enumerate() {
        let dir = write_crate(i, files);
        let out = cargo(&dir, &["run", "--quiet"]);
        assert!(
            out.status.success(),
            "README example {i} ({:?}) failed:\n{}",
            files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "README example {i} printed nothing");

        if !files.iter().any(|(p, _)| p == "build.rs") {
            let tree = cargo(&dir, &["tree", "-e", "normal,build", "--prefix", "none"]);
            assert!(tree.status.success(), "cargo tree: {}", String::from_utf8_lossy(&tree.stderr));
            let tree = String::from_utf8_lossy(&tree.stdout);
            assert!(tree.contains("mobilenet-runtime"), "cargo tree lists the crate's dependencies:\n{tree}");
            for heavy in ["clap", "npyz", "image"] {
                assert!(
                    !tree.lines().any(|l| l.split_whitespace().next() == Some(heavy)),
                    "a crate using mobilenet_model! compiles {heavy}:\n{tree}"
                );
            }
        }
    }
}
