//! The generated code in a `#![no_std]` crate without `alloc`: the model works in memory the
//! caller lends through `with_arena`. Built on its own by `.ci/run`
//! (`cargo test -p mobilenet-no-std-check`), so that no other crate turns `std` or `alloc` on.

#![no_std]

mobilenet_runtime::mobilenet_model!(pub Tiny, "../../models/fixtures/v3_like.op14.onnx");

/// Runs the model in `memory` and returns the index of the largest output.
pub fn classify(memory: &mut [f32], input: &[f32]) -> Result<usize, mobilenet_runtime::Error> {
    let mut model = Tiny::with_arena(memory)?;
    let out = model.run_slice(input)?;
    let mut best = 0;
    for (i, v) in out.iter().enumerate() {
        if *v > out[best] {
            best = i;
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;

    #[test]
    fn runs_in_lent_memory() {
        let mut memory = vec![0f32; super::Tiny::ARENA_LEN];
        // The fixture's reference input and onnxruntime's top-1 (models/fixtures/fixtures.toml).
        let bytes =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/fixtures/v3_like.op14.ref_in.npy"))
                .unwrap();
        let data = &bytes[bytes.len() - 4 * super::Tiny::INPUT_LEN..];
        let input: vec::Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(super::classify(&mut memory, &input), Ok(4));
        let mut small = vec![0f32; super::Tiny::ARENA_LEN - 1];
        assert!(matches!(super::classify(&mut small, &input), Err(mobilenet_runtime::Error::ArenaTooSmall { .. })));
    }
}
