//! How kernels pick their SIMD path: each SIMD kernel body is generic over `simd::Simd` and gets
//! one `#[target_feature]` entry point per vector ISA of the target (`simd_entry!`);
//! `dispatch!` calls the one matching the `Cpu` it is given, or the scalar version.

/// Defines the entry points of a kernel for the target's vector ISAs, each calling the generic
/// body with its vector type: `simd_entry!(name => generic_fn(args: Types));`, or
/// `simd_entry!(name => same body(args: Types));` for a body with no vector code of its own
/// (the same loop compiled with the ISA enabled, for LLVM to vectorise).
macro_rules! simd_entry {
    ($name:ident => same $body:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        simd_entry!(@entries $name, $($arg: $ty),* ; avx2 => $body, avx512 => $body, neon => $body, simd128 => $body);
    };
    ($name:ident => $generic:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        simd_entry!(@entries $name, $($arg: $ty),* ;
            avx2 => $generic::<crate::arch::Avx2>,
            avx512 => $generic::<crate::arch::Avx512>,
            neon => $generic::<crate::arch::Neon>,
            simd128 => $generic::<crate::arch::Simd128>);
    };
    (@entries $name:ident, $($arg:ident : $ty:ty),* ;
        avx2 => $avx2:path, avx512 => $avx512:path, neon => $neon:path, simd128 => $simd128:path) => {
        pub(crate) mod $name {
            #[allow(unused_imports)]
            use super::*;
            /// # Safety
            /// The CPU must support AVX2 and FMA (guaranteed by holding a `Cpu` of that level).
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            pub(crate) unsafe fn avx2($($arg: $ty),*) {
                $avx2($($arg),*)
            }
            /// # Safety
            /// The CPU must support AVX-512F, AVX2 and FMA (guaranteed by holding a `Cpu` of
            /// that level).
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            pub(crate) unsafe fn avx512($($arg: $ty),*) {
                $avx512($($arg),*)
            }
            /// # Safety
            /// None beyond the target's: NEON is baseline on aarch64 (`unsafe` for the
            /// uniform `dispatch!`).
            #[cfg(target_arch = "aarch64")]
            #[target_feature(enable = "neon")]
            pub(crate) unsafe fn neon($($arg: $ty),*) {
                $neon($($arg),*)
            }
            /// # Safety
            /// None: this exists only in builds with simd128 enabled (`unsafe` for the
            /// uniform `dispatch!`).
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            pub(crate) unsafe fn simd128($($arg: $ty),*) {
                $simd128($($arg),*)
            }
        }
    };
}

/// Calls the entry point of a kernel for `cpu`'s level, or the scalar fallback.
macro_rules! dispatch {
    ($cpu:expr, $entry:ident, $scalar:expr, ($($arg:expr),* $(,)?)) => {{
        match $cpu.level() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a Cpu at this level exists only if the machine supports it.
            $crate::cpu::SimdLevel::Avx512 => unsafe { $entry::avx512($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            $crate::cpu::SimdLevel::Avx2 => unsafe { $entry::avx2($($arg),*) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above (NEON: every aarch64 CPU).
            $crate::cpu::SimdLevel::Neon => unsafe { $entry::neon($($arg),*) },
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            // SAFETY: as above (simd128: enabled at compile time).
            $crate::cpu::SimdLevel::Simd128 => unsafe { $entry::simd128($($arg),*) },
            _ => $scalar,
        }
    }};
}
