//! Compiles every fixture twice: with `Compiler::write_to_out_dir` (the build.rs door) and by
//! writing `mobilenet_model!` invocations (the macro door), plus batch-4 versions of the models
//! with a symbolic batch. `src/lib.rs` includes the registry written here.

use std::fmt::Write as _;
use std::path::Path;

use mobilenet_compiler::Compiler;
use mobilenet_tests::{Fixture, project_fixtures, shared_fixtures};

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let mut fixtures = project_fixtures();
    match shared_fixtures() {
        Some(shared) => fixtures.extend(shared),
        None => println!("cargo:warning=../shared/models is absent: only the project's fixtures are compiled"),
    }
    println!("cargo:rerun-if-changed={}", mobilenet_tests::shared_manifest().display());
    println!("cargo:rerun-if-changed={}/../../models/fixtures/fixtures.toml", manifest);
    println!("cargo:rerun-if-env-changed=MOBILENET_SHARED_MODELS");

    let mut build_door = String::new();
    let mut macro_door = String::new();
    let mut entries = String::new();
    for (i, f) in fixtures.iter().enumerate() {
        let shape = &f.input_shape;
        let file = format!("m{i}");
        Compiler::new(&f.path)
            .struct_name(format!("M{i}"))
            .input_shape(shape)
            .file_name(&file)
            .write_to_out_dir()
            .unwrap_or_else(|e| panic!("{e}"));
        writeln!(build_door, "include!(concat!(env!(\"OUT_DIR\"), \"/{file}.rs\"));").unwrap();
        let rel = relative(Path::new(&manifest), &f.path);
        // Through the macro, compiled for up to 2 threads (run on 1 and on 2).
        writeln!(
            macro_door,
            "mobilenet_runtime::mobilenet_model!(pub M{i}, {rel:?}, input_shape = {shape:?}, threads = 2);"
        )
        .unwrap();
        let batch4 = symbolic_batch(f).then(|| {
            let file = format!("m{i}_b4");
            let mut shape4 = shape.clone();
            shape4[0] = 4;
            Compiler::new(&f.path)
                .struct_name(format!("M{i}B4"))
                .input_shape(&shape4)
                .file_name(&file)
                .write_to_out_dir()
                .unwrap_or_else(|e| panic!("{e}"));
            writeln!(build_door, "include!(concat!(env!(\"OUT_DIR\"), \"/{file}.rs\"));").unwrap();
            format!("Some(|cpu, x| run!(build_door::M{i}B4, cpu, x))")
        });
        writeln!(
            entries,
            "Entry {{ name: {:?}, fixture: {i}, build_door: |cpu, x| run!(build_door::M{i}, cpu, x), macro_door: |cpu, x| run!(macro_door::M{i}, cpu, x), macro_threads2: |cpu, x| run!(macro_door::M{i}, cpu, x, threads 2), copied_weights: |cpu, x| run!(build_door::M{i}, cpu, x, copied), batch4: {} }},",
            f.name,
            batch4.unwrap_or_else(|| "None".into())
        )
        .unwrap();
    }
    // Quantised models: the same two doors, with the element types the models declare.
    let mut int8_entries = String::new();
    for (i, f) in mobilenet_tests::int8_fixtures().unwrap_or_default().iter().enumerate() {
        let file = format!("q{i}");
        Compiler::new(&f.path)
            .struct_name(format!("Q{i}"))
            .input_shape(&f.input_shape)
            .file_name(&file)
            .write_to_out_dir()
            .unwrap_or_else(|e| panic!("{e}"));
        writeln!(build_door, "include!(concat!(env!(\"OUT_DIR\"), \"/{file}.rs\"));").unwrap();
        let rel = relative(Path::new(&manifest), &f.path);
        writeln!(macro_door, "mobilenet_runtime::mobilenet_model!(pub Q{i}, {rel:?}, threads = 2);").unwrap();
        writeln!(
            int8_entries,
            "Int8Entry {{ name: {:?}, fixture: {i}, build_door: |cpu, x| run_any!(build_door::Q{i}, cpu, x), macro_threads2: |cpu, x| run_any!(macro_door::Q{i}, cpu, x, threads 2) }},",
            f.name
        )
        .unwrap();
    }
    println!("cargo:rerun-if-changed={}", mobilenet_tests::shared_manifest().with_file_name("int8.toml").display());
    std::fs::write(Path::new(&out_dir).join("int8_entries.rs"), format!("&[\n{int8_entries}]")).unwrap();
    std::fs::write(Path::new(&out_dir).join("build_door.rs"), build_door).unwrap();
    std::fs::write(Path::new(&out_dir).join("macro_door.rs"), macro_door).unwrap();
    std::fs::write(Path::new(&out_dir).join("entries.rs"), format!("&[\n{entries}]")).unwrap();
}

/// Models whose ONNX input declares a symbolic batch can be compiled for batch 4.
fn symbolic_batch(f: &Fixture) -> bool {
    let mut shape = f.input_shape.clone();
    shape[0] = 4;
    Compiler::new(&f.path).input_shape(&shape).compile().is_ok()
}

/// `path` relative to `base` (the macro takes paths relative to CARGO_MANIFEST_DIR).
fn relative(base: &Path, path: &Path) -> String {
    let base = base.canonicalize().expect("manifest dir");
    let path = path.canonicalize().expect("fixture path");
    let common = base.components().zip(path.components()).take_while(|(a, b)| a == b).count();
    let ups = base.components().count() - common;
    let mut rel = std::path::PathBuf::new();
    for _ in 0..ups {
        rel.push("..");
    }
    for c in path.components().skip(common) {
        rel.push(c);
    }
    rel.display().to_string()
}
