//! How kernels pick their SIMD path: each SIMD kernel body is generic over `x86::Simd` and gets
//! two `#[target_feature]` entry points (`simd_entry!`); `dispatch!` calls the one matching the
//! `Cpu` it is given, or the scalar version.

/// Defines the `#[target_feature]` entry points of a kernel for both ISAs, each calling the
/// generic body with its vector type:
/// `simd_entry!(fn_name => generic_fn(args: Types) );`
macro_rules! simd_entry {
    // A body with no vector code of its own: the same loop compiled with AVX2 or AVX-512
    // enabled, for LLVM to vectorise.
    ($name:ident => same $body:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        pub(crate) mod $name {
            #[allow(unused_imports)]
            use super::*;
            /// # Safety
            /// The CPU must support AVX2 and FMA (guaranteed by holding a `Cpu` of that level).
            #[target_feature(enable = "avx2,fma")]
            pub(crate) unsafe fn avx2($($arg: $ty),*) {
                $body($($arg),*)
            }
            /// # Safety
            /// The CPU must support AVX-512F, AVX2 and FMA.
            #[target_feature(enable = "avx512f,avx2,fma")]
            pub(crate) unsafe fn avx512($($arg: $ty),*) {
                $body($($arg),*)
            }
        }
    };
    ($name:ident => $generic:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        pub(crate) mod $name {
            #[allow(unused_imports)]
            use super::*;
            /// # Safety
            /// The CPU must support AVX2 and FMA (guaranteed by holding a `Cpu` of that level).
            #[target_feature(enable = "avx2,fma")]
            pub(crate) unsafe fn avx2($($arg: $ty),*) {
                $generic::<crate::x86::Avx2>($($arg),*)
            }
            /// # Safety
            /// The CPU must support AVX-512F, AVX2 and FMA (guaranteed by holding a `Cpu` of
            /// that level).
            #[target_feature(enable = "avx512f,avx2,fma")]
            pub(crate) unsafe fn avx512($($arg: $ty),*) {
                $generic::<crate::x86::Avx512>($($arg),*)
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
            _ => $scalar,
        }
    }};
}
