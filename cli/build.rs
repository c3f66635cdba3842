//! Points `MOBILENET_RUNNER_MODEL` at the small generated model the runner example is built
//! around (`runner/example_model.rs`, kept current by tests/golden.rs). mobilenetc sets the same
//! variable for the runner crates it writes.

fn main() {
    let model = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("runner/example_model.rs");
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rustc-env=MOBILENET_RUNNER_MODEL={}", model.display());
}
