//! Each model on every SIMD path of the target it runs on (scalar, and AVX2/AVX-512, NEON or
//! simd128), against onnxruntime's output: within the tolerance, same argmax.

use mobilenet_cross_tests::{MODELS, Model};
use mobilenet_runtime::{Cpu, SimdLevel};

fn read(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
    npy.into_vec::<f32>().unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

fn check(m: &Model) {
    let (input, want) = (read(m.input), read(m.output));
    let scale = want.iter().fold(0f32, |s, v| s.max(v.abs()));
    let levels: Vec<Cpu> = SimdLevel::ALL.into_iter().filter_map(Cpu::with_level).collect();
    assert!(levels.len() >= 2 || cfg!(all(target_arch = "wasm32", not(target_feature = "simd128"))), "{levels:?}");
    for cpu in levels {
        let got = (m.run)(cpu, &input);
        assert_eq!(got.len(), want.len(), "{} on {}", m.name, cpu.level().name());
        let diff = got.iter().zip(&want).fold(0f32, |d, (a, b)| d.max((a - b).abs()));
        assert!(
            diff <= m.rel * scale + m.abs,
            "{} on {}: max |diff| {diff} against the reference's max |value| {scale}",
            m.name,
            cpu.level().name()
        );
        assert_eq!(argmax(&got), argmax(&want), "{} on {}: argmax", m.name, cpu.level().name());
        eprintln!("{} on {}: max |diff| {diff:.2e} (scale {scale:.3})", m.name, cpu.level().name());
    }
}

#[test]
fn every_model_on_every_path() {
    if MODELS.is_empty() {
        eprintln!("note: ../shared/models is absent; no model to run");
    }
    for m in MODELS {
        check(m);
    }
}
