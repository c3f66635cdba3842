//! Compiles the model the example runs, through the build.rs door:
//! - `MOBILENET_MODEL=path/to/model.onnx` (absolute, or relative to the repository root), with
//!   `MOBILENET_INPUT_SHAPE=1,3,224,224` for symbolic dimensions;
//! - otherwise a MobileNetV2 1.0/224 with random weights, generated here (the bundled demo).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mobilenet_compiler::onnx::builder::mobilenet_v2_random;
use mobilenet_compiler::{Compiler, InputShape};

fn main() -> ExitCode {
    println!("cargo:rerun-if-env-changed=MOBILENET_MODEL");
    println!("cargo:rerun-if-env-changed=MOBILENET_INPUT_SHAPE");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (path, description) = match std::env::var_os("MOBILENET_MODEL") {
        Some(p) => {
            let p = PathBuf::from(p);
            let p = if p.is_absolute() { p } else { root.join(p) };
            let d = p.display().to_string();
            (p, d)
        }
        None => {
            let p = out_dir.join("demo_mobilenet_v2.onnx");
            if !p.exists() {
                use mobilenet_compiler::onnx::builder::prost_encode;
                let model = mobilenet_v2_random(1.0, 1000, 224, 2026);
                if let Err(e) = std::fs::write(&p, prost_encode(&model)) {
                    eprintln!("error: {}: {e}", p.display());
                    return ExitCode::FAILURE;
                }
            }
            (p, "bundled demo MobileNetV2 1.0/224 (random weights)".to_string())
        }
    };
    let mut compiler = Compiler::new(&path).struct_name("Model").file_name("model");
    if let Ok(shape) = std::env::var("MOBILENET_INPUT_SHAPE") {
        match InputShape::parse(&shape) {
            Ok(s) => compiler = compiler.input_shape(&s.dims),
            Err(e) => {
                eprintln!("error: MOBILENET_INPUT_SHAPE: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = compiler.write_to_out_dir() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(out_dir.join("model_description.txt"), description) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
