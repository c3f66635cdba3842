//! The models build.rs compiled, with their reference data, for `tests/models.rs`: built for
//! the host like every crate here, and for aarch64 (run by qemu) and wasm32-wasip1 (run by
//! node) by `scripts/test-cross`.

#![allow(missing_docs)]

use mobilenet_runtime::Cpu;

macro_rules! run {
    ($model:ty, $cpu:expr, $x:expr) => {{
        let mut m = Box::new(<$model>::new());
        m.set_cpu($cpu);
        m.run_slice($x).expect("input length").to_vec()
    }};
}

/// The generated models.
pub mod models {
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}

/// One model: its name, its reference input and output (.npy, f32) and how close to the
/// reference its output must be (`max |diff| <= rel * max |ref| + abs`).
pub struct Model {
    pub name: &'static str,
    pub input: &'static str,
    pub output: &'static str,
    pub rel: f32,
    pub abs: f32,
    pub run: fn(Cpu, &[f32]) -> Vec<f32>,
}

/// Every model build.rs compiled (none where ../shared/models is absent).
pub const MODELS: &[Model] = include!(concat!(env!("OUT_DIR"), "/table.rs"));
