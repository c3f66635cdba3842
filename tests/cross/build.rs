//! Compiles the models the cross tests run (MobileNetV1 0.5, V2 and V3-small from
//! ../shared/models, and V2 quantised by onnxruntime from int8.toml) with
//! `Compiler::write_to_out_dir`, on the host, for whatever target the crate is built for; and
//! writes the table `src/lib.rs` includes: each model's runner, reference files and tolerance.

use std::fmt::Write as _;
use std::path::Path;

use mobilenet_compiler::Compiler;

/// File stems of the float models (models.toml) and of the quantised one (int8.toml).
const FLOAT: [&str; 3] =
    ["mobilenet_v1_0.5.torch.dynbatch.op13", "mobilenet_v2.tv.legacy.op13", "mobilenet_v3_small.tv.legacy.op13"];
const INT8: [&str; 1] = ["mobilenet_v2.tv.legacy.op13.ort_qdq_u8s8"];

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    println!("cargo:rerun-if-changed={}", mobilenet_tests::shared_manifest().display());
    println!("cargo:rerun-if-env-changed=MOBILENET_SHARED_MODELS");
    let mut models = String::new();
    let mut table = String::new();
    let mut add = |name: &str, path: &Path, shape: &[usize], input: &Path, output: &Path, tol: (f32, f32)| {
        let i = table.matches("Model {").count();
        Compiler::new(path)
            .struct_name(format!("M{i}"))
            .input_shape(shape)
            .file_name(format!("m{i}"))
            .write_to_out_dir()
            .unwrap_or_else(|e| panic!("{e}"));
        writeln!(models, "include!(concat!(env!(\"OUT_DIR\"), \"/m{i}.rs\"));").unwrap();
        writeln!(
            table,
            "Model {{ name: {name:?}, input: {:?}, output: {:?}, rel: {:?}, abs: {:?}, run: |cpu, x| run!(models::M{i}, cpu, x) }},",
            input.display().to_string(),
            output.display().to_string(),
            tol.0,
            tol.1,
        )
        .unwrap();
    };
    match mobilenet_tests::shared_fixtures() {
        Some(fixtures) => {
            for f in fixtures.iter().filter(|f| FLOAT.contains(&f.name.as_str())) {
                add(&f.name, &f.path, &f.input_shape, &f.reference_input, &f.reference_output, (1e-4, 1e-6));
            }
            for f in
                mobilenet_tests::int8_fixtures().unwrap_or_default().iter().filter(|f| INT8.contains(&f.name.as_str()))
            {
                add(&f.name, &f.path, &f.input_shape, &f.reference_input, &f.reference_output, (f.rel, f.abs));
            }
        }
        None => println!("cargo:warning=../shared/models is absent: the cross tests have no models to run"),
    }
    std::fs::write(Path::new(&out_dir).join("models.rs"), models).unwrap();
    std::fs::write(Path::new(&out_dir).join("table.rs"), format!("&[\n{table}]")).unwrap();
}
