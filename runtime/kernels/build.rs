//! Sets `cfg(kernel_simd)` where the target has a `Simd` implementation (x86_64, aarch64,
//! wasm32 built with simd128), so that the generic SIMD kernel bodies exist only where some
//! entry point compiles them; and `cfg(kernel_threads)` where `Threads` can have workers (std,
//! and not WebAssembly, whose WASI and browser builds here have no threads).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(kernel_simd)");
    println!("cargo::rustc-check-cfg=cfg(kernel_threads)");
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    if std::env::var_os("CARGO_FEATURE_STD").is_some() && !family.split(',').any(|f| f == "wasm") {
        println!("cargo::rustc-cfg=kernel_threads");
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let simd128 = features.split(',').any(|f| f == "simd128");
    if arch == "x86_64" || arch == "aarch64" || (arch == "wasm32" && simd128) {
        println!("cargo::rustc-cfg=kernel_simd");
    }
}
