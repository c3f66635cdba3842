//! The bundled pretrained MobileNetV2 as a WebAssembly module for a web page: `#![no_std]`,
//! no allocator, every buffer a static, so a classification allocates nothing and the module
//! needs no imports. The page's glue (`www/mobilenet.js`) writes the preprocessed image at
//! `input_ptr()`, calls `classify()`, and reads the scores at `output_ptr()`.
//!
//! Built by `examples/web/build.sh` for wasm32-unknown-unknown with simd128.

#![no_std]

use core::cell::UnsafeCell;

mobilenet_runtime::mobilenet_model!(pub Net, "../../models/pretrained/mobilenet_v2_1.0_224.onnx");

/// A buffer the module owns. WebAssembly here runs on one thread, and JavaScript reaches the
/// buffers only between calls, so no two borrows overlap.
struct Buffer<const N: usize>(UnsafeCell<[f32; N]>);

// SAFETY: wasm32-unknown-unknown without atomics has one thread (see above).
unsafe impl<const N: usize> Sync for Buffer<N> {}

impl<const N: usize> Buffer<N> {
    const fn new() -> Self {
        Buffer(UnsafeCell::new([0.0; N]))
    }
}

static ARENA: Buffer<{ Net::ARENA_LEN }> = Buffer::new();
static INPUT: Buffer<{ Net::INPUT_LEN }> = Buffer::new();
static OUTPUT: Buffer<{ Net::OUTPUT_LEN }> = Buffer::new();

/// Where the page writes the input: `Net::INPUT_LEN` f32, NCHW `[1, 3, 224, 224]`, each
/// pixel value `(p - 128) / 128` (the preprocessing this model was trained with).
#[unsafe(no_mangle)]
pub extern "C" fn input_ptr() -> *mut f32 {
    INPUT.0.get().cast()
}

/// Where `classify` leaves the scores: `output_len()` f32, one per ImageNet class (index 0 is
/// "background").
#[unsafe(no_mangle)]
pub extern "C" fn output_ptr() -> *const f32 {
    OUTPUT.0.get().cast()
}

#[unsafe(no_mangle)]
pub extern "C" fn output_len() -> usize {
    Net::OUTPUT_LEN
}

/// The SIMD path the kernels take (`simd128`, `simd128 with relaxed-simd FMA`, or `scalar`),
/// as a byte length of the name at `simd_name_ptr()`.
#[unsafe(no_mangle)]
pub extern "C" fn simd_name_len() -> usize {
    simd_name().len()
}

#[unsafe(no_mangle)]
pub extern "C" fn simd_name_ptr() -> *const u8 {
    simd_name().as_ptr()
}

fn simd_name() -> &'static str {
    let level = mobilenet_runtime::Cpu::detect().level();
    mobilenet_runtime::path_description(level, mobilenet_runtime::target_has_simd())
}

/// Runs the model on the input buffer; 0 on success. Nothing is allocated: the model works
/// in the static arena.
#[unsafe(no_mangle)]
pub extern "C" fn classify() -> i32 {
    // SAFETY: one thread, and no other borrow of these buffers is alive during the call.
    let (arena, input, output) = unsafe { (&mut *ARENA.0.get(), &*INPUT.0.get(), &mut *OUTPUT.0.get()) };
    let Ok(mut net) = Net::with_arena(&mut arena[..]) else { return 1 };
    match net.run_slice(input) {
        Ok(scores) => {
            output.copy_from_slice(scores);
            0
        }
        Err(_) => 2,
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
