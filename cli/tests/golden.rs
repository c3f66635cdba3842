//! The generated Rust of one small model, committed as `runner/example_model.rs` (and its weight
//! blob): a change to code generation shows in review as a change to this file, and the runner
//! example is built around it. `UPDATE_GOLDEN=1 cargo test -p mobilenetc --test golden` writes
//! it anew.

use std::path::Path;

use mobilenet_compiler::Compiler;
use mobilenet_compiler::codegen::{self, Weights};

#[test]
fn generated_code_of_a_small_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A path relative to this crate, so that the header names the same file everywhere.
    std::env::set_current_dir(dir).unwrap();
    let compiled = Compiler::new("../models/fixtures/v3_like.op14.onnx").struct_name("Model").compile().unwrap();
    let source = compiled.source(Weights::IncludeBytes(quote::quote!("example_model.weights.bin"))).unwrap();
    let weights = codegen::weight_bytes(&compiled.program);
    let (rs, bin) = (dir.join("runner/example_model.rs"), dir.join("runner/example_model.weights.bin"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&rs, &source).unwrap();
        std::fs::write(&bin, &weights).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&rs).unwrap_or_default();
    if want != source {
        let first = want.lines().zip(source.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "the generated code changed (first at line {}):\n- {}\n+ {}\nrun `UPDATE_GOLDEN=1 cargo test -p mobilenetc --test golden` and review the diff",
            first + 1,
            want.lines().nth(first).unwrap_or(""),
            source.lines().nth(first).unwrap_or("")
        );
    }
    assert_eq!(std::fs::read(&bin).unwrap_or_default(), weights, "the weight blob changed");
}
