//! Compiles the model the example runs, through the build.rs door: the bundled pretrained
//! MobileNetV2 1.0/224 (`models/pretrained`), or `MOBILENET_MODEL=path/to/model.onnx`
//! (absolute, or relative to the repository root), with `MOBILENET_INPUT_SHAPE=1,3,224,224` for
//! symbolic dimensions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mobilenet_compiler::{Compiler, InputShape};

fn main() -> ExitCode {
    println!("cargo:rerun-if-env-changed=MOBILENET_MODEL");
    println!("cargo:rerun-if-env-changed=MOBILENET_INPUT_SHAPE");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Whether the bundled model runs: its labels and preprocessing are then the defaults.
    let (path, bundled) = match std::env::var_os("MOBILENET_MODEL") {
        Some(p) => {
            let p = PathBuf::from(p);
            (if p.is_absolute() { p } else { root.join(p) }, false)
        }
        None => (root.join("models/pretrained/mobilenet_v2_1.0_224.onnx"), true),
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
    let description = if bundled {
        "bundled MobileNetV2 1.0/224, trained on ImageNet (models/pretrained)".to_string()
    } else {
        path.display().to_string()
    };
    if let Err(e) = std::fs::write(out_dir.join("model_description.txt"), description) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!("cargo::rustc-check-cfg=cfg(bundled_model)");
    if bundled {
        println!("cargo:rustc-cfg=bundled_model");
    }
    ExitCode::SUCCESS
}
