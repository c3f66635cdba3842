//! # mobilenet-runtime
//!
//! The one dependency a crate using a compiled MobileNet needs. It re-exports the kernels the
//! generated code calls (`mobilenet-kernels`: scalar, AVX2+FMA and AVX-512 paths, chosen once at
//! construction) and the `mobilenet_model!` macro.
//!
//! ```ignore
//! mobilenet_runtime::mobilenet_model!(pub MobileNetV2, "models/mobilenetv2.onnx");
//! let mut net = MobileNetV2::new();
//! let logits: &[f32; 1000] = net.run(&image);
//! ```
//!
//! Features: `std` (default; run-time CPU detection), `alloc` (models allocate their own arena),
//! `macros` (default; the proc-macro). With `default-features = false` the crate is `no_std` and
//! allocation-free: give the model its memory with `Model::with_arena`.

#![warn(missing_docs)]
#![no_std]
#[cfg(feature = "alloc")]
extern crate alloc;

pub use mobilenet_kernels::*;
#[cfg(feature = "macros")]
pub use mobilenet_macros::mobilenet_model;

#[cfg(feature = "alloc")]
mod memory;
/// The memory a model owns by default: with `alloc`, zeroed memory it allocates in `new()` (on
/// Linux backed by huge pages, see [`Arena::new`]); without it, memory the caller lends (models
/// then come from `with_arena`).
#[cfg(feature = "alloc")]
pub use memory::Arena;
/// The memory a model owns by default: without `alloc`, memory the caller lends (models then
/// come from `with_arena`).
#[cfg(not(feature = "alloc"))]
pub type Arena = &'static mut [f32];

mod weight_memory;
pub use weight_memory::WeightMemory;

/// Expands its input only when this crate has the `alloc` feature (generated `new()` needs it).
#[doc(hidden)]
#[cfg(feature = "alloc")]
#[macro_export]
macro_rules! __if_alloc {
    ($($item:item)*) => { $($item)* };
}
#[doc(hidden)]
#[cfg(not(feature = "alloc"))]
#[macro_export]
macro_rules! __if_alloc {
    ($($item:item)*) => {};
}

/// Why a model rejected an input or a memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input slice has the wrong number of elements.
    InputLength {
        /// Elements the model takes.
        expected: usize,
        /// Elements given.
        actual: usize,
    },
    /// The memory given to `with_arena` is too small.
    ArenaTooSmall {
        /// Elements the model needs.
        required: usize,
        /// Elements given.
        actual: usize,
    },
    /// The requested SIMD level is not supported by this CPU.
    UnsupportedSimd(SimdLevel),
    /// A thread count outside 1..=max (the maximum is chosen when the model is compiled).
    Threads {
        /// The count asked for.
        requested: usize,
        /// The most the model allows.
        max: usize,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::InputLength { expected, actual } => {
                write!(f, "input has {actual} elements, the model takes {expected}")
            }
            Error::ArenaTooSmall { required, actual } => {
                write!(f, "arena has {actual} f32 elements, the model needs {required}")
            }
            Error::UnsupportedSimd(level) => write!(f, "this CPU does not support {}", level.name()),
            Error::Threads { requested, max } => {
                write!(
                    f,
                    "{requested} threads requested; this model was compiled for 1 to {max} (the `threads` option)"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

/// For tests: how many of the 4 KiB pages `data` touches are in this process's page tables, and
/// how many it touches (from /proc/self/pagemap, whose entries' bit 63 says "present").
#[cfg(all(test, feature = "std", target_os = "linux"))]
fn mapped_pages(data: &[f32]) -> Option<(usize, usize)> {
    extern crate std;
    use memory::PAGE;
    use std::io::{Read, Seek, SeekFrom};
    let first = data.as_ptr() as usize / PAGE;
    let last = (data.as_ptr() as usize + core::mem::size_of_val(data) - 1) / PAGE;
    let mut file = std::fs::File::open("/proc/self/pagemap").ok()?;
    file.seek(SeekFrom::Start(first as u64 * 8)).ok()?;
    let mut entries = std::vec![0u8; (last - first + 1) * 8];
    file.read_exact(&mut entries).ok()?;
    let present = entries.chunks_exact(8).filter(|e| e[7] & 0x80 != 0).count();
    Some((present, last - first + 1))
}

/// For tests: a field of the /proc/self/smaps entry of the mapping that holds `addr`, in kB.
#[cfg(all(test, feature = "std", target_os = "linux"))]
fn smaps_field_kb(addr: usize, field: &str) -> Option<usize> {
    extern crate std;
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let range = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16));
            inside = matches!(range, (Ok(lo), Ok(hi)) if lo <= addr && addr < hi);
        } else if inside && line.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')) {
            return line.split_whitespace().nth(1).and_then(|v| v.parse().ok());
        }
    }
    None
}
