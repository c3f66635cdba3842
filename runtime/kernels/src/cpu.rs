//! Which SIMD path the kernels take, decided once.

/// An instruction-set level, ordered from the most portable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// Plain Rust, correct on every target.
    Scalar,
    /// x86_64 AVX2 with FMA.
    Avx2,
    /// x86_64 AVX-512F (with AVX2 and FMA).
    Avx512,
    /// aarch64 NEON (Advanced SIMD), part of every aarch64 CPU.
    Neon,
    /// wasm32 simd128, when the module is built with it (`-C target-feature=+simd128`).
    Simd128,
}

impl SimdLevel {
    /// Every level; within one architecture, slowest first (a target supports the scalar
    /// level and its own ISA's).
    pub const ALL: [SimdLevel; 5] =
        [SimdLevel::Scalar, SimdLevel::Neon, SimdLevel::Simd128, SimdLevel::Avx2, SimdLevel::Avx512];

    /// Lower-case name (`scalar`, `avx2`, `avx512`, `neon`, `simd128`), as `mobilenetc bench
    /// --simd` spells it.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
            SimdLevel::Neon => "neon",
            SimdLevel::Simd128 => "simd128",
        }
    }

    /// Parses a level's name (the values of `MOBILENET_SIMD`).
    pub fn parse(s: &str) -> Option<SimdLevel> {
        SimdLevel::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the level is one of this target architecture's (scalar is everyone's): the
    /// levels a build for this target can have, whether or not this CPU runs them.
    pub fn is_for_this_arch(self) -> bool {
        match self {
            SimdLevel::Scalar => true,
            SimdLevel::Avx2 | SimdLevel::Avx512 => cfg!(target_arch = "x86_64"),
            SimdLevel::Neon => cfg!(target_arch = "aarch64"),
            SimdLevel::Simd128 => cfg!(target_arch = "wasm32"),
        }
    }

    /// Whether this machine (or, without `std`, the compile-time target) can run the level.
    pub fn is_supported(self) -> bool {
        match self {
            SimdLevel::Scalar => true,
            SimdLevel::Avx2 => has_avx2_fma(),
            SimdLevel::Avx512 => has_avx512(),
            SimdLevel::Neon => cfg!(target_arch = "aarch64"),
            SimdLevel::Simd128 => cfg!(all(target_arch = "wasm32", target_feature = "simd128")),
        }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx512() -> bool {
    has_avx2_fma() && std::is_x86_feature_detected!("avx512f")
}
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn has_avx2_fma() -> bool {
    cfg!(all(target_feature = "avx2", target_feature = "fma"))
}
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn has_avx512() -> bool {
    has_avx2_fma() && cfg!(target_feature = "avx512f")
}
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx512_vnni() -> bool {
    has_avx512()
        && std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
}
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn has_avx512_vnni() -> bool {
    has_avx512() && cfg!(all(target_feature = "avx512vnni", target_feature = "avx512bw", target_feature = "avx512vl"))
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx512_vnni() -> bool {
    false
}
/// NEON's 8-bit dot product (FEAT_DotProd, ARMv8.2 and later).
#[cfg(all(target_arch = "aarch64", feature = "std"))]
fn has_dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}
#[cfg(all(target_arch = "aarch64", not(feature = "std")))]
fn has_dotprod() -> bool {
    cfg!(target_feature = "dotprod")
}
#[cfg(not(target_arch = "aarch64"))]
fn has_dotprod() -> bool {
    false
}
/// The 256-bit `vpdpbusd`: AVX-VNNI (VEX), or, where AVX-512 VNNI and VL are there, its EVEX form.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx_vnni() -> bool {
    has_avx2_fma() && std::is_x86_feature_detected!("avxvnni")
}
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn has_avx_vnni() -> bool {
    has_avx2_fma() && cfg!(target_feature = "avxvnni")
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx_vnni() -> bool {
    false
}
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx512_vbmi() -> bool {
    has_avx512() && std::is_x86_feature_detected!("avx512vbmi") && std::is_x86_feature_detected!("avx512bw")
}
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn has_avx512_vbmi() -> bool {
    has_avx512() && cfg!(all(target_feature = "avx512vbmi", target_feature = "avx512bw"))
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx512_vbmi() -> bool {
    false
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx2_fma() -> bool {
    false
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx512() -> bool {
    false
}

/// A SIMD level known to be supported: the only way to obtain one checks the CPU, which is what
/// lets kernels call `#[target_feature]` code for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    level: SimdLevel,
    /// The 8-bit kernels' dot-product path: AVX-512 VNNI (with BW and VL) at the AVX-512
    /// level, dotprod at the NEON level.
    vnni: bool,
    /// AVX-512 VBMI is there too: 8-bit table lookups by `vpermi2b`.
    vbmi: bool,
    /// The 8-bit GEMM may use the 256-bit `vpdpbusd` (AVX2 level): AVX-VNNI, or for tests on
    /// AVX-512 machines its EVEX form (`Dot256::Evex`).
    dot256: Dot256,
}

/// Which encoding of the 256-bit `vpdpbusd` an AVX2-level 8-bit GEMM may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dot256 {
    /// None: `vpmaddwd` on widened pairs.
    None,
    /// AVX-VNNI (VEX).
    Vex,
    /// AVX-512 VNNI with VL (EVEX): the same instruction, for testing the path on AVX-512 CPUs.
    Evex,
}

impl Cpu {
    /// The portable path.
    pub const fn scalar() -> Cpu {
        Cpu { level: SimdLevel::Scalar, vnni: false, vbmi: false, dot256: Dot256::None }
    }

    /// The best level this machine supports, unless the environment variable `MOBILENET_SIMD`
    /// (a level's name; std only) asks for another supported one.
    pub fn detect() -> Cpu {
        let best = SimdLevel::ALL.into_iter().rev().find(|l| l.is_supported()).unwrap_or(SimdLevel::Scalar);
        let wanted = requested_level().filter(|l| l.is_supported());
        Cpu::at(wanted.unwrap_or(best))
    }

    /// Exactly `level`, or `None` when this machine cannot run it.
    pub fn with_level(level: SimdLevel) -> Option<Cpu> {
        level.is_supported().then(|| Cpu::at(level))
    }

    fn at(level: SimdLevel) -> Cpu {
        let avx512 = level == SimdLevel::Avx512;
        let dot256 = if level == SimdLevel::Avx2 && has_avx_vnni() { Dot256::Vex } else { Dot256::None };
        let vnni = (avx512 && has_avx512_vnni()) || (level == SimdLevel::Neon && has_dotprod());
        Cpu { level, vnni, vbmi: avx512 && has_avx512_vbmi(), dot256 }
    }

    /// This level without the 8-bit dot-product and byte-permute instructions (to test the
    /// paths taken where they are missing).
    pub fn without_int8_dot(self) -> Cpu {
        Cpu { vnni: false, vbmi: false, dot256: Dot256::None, ..self }
    }

    /// The AVX2 level with the 256-bit 8-bit dot product, where the CPU has it: AVX-VNNI, or
    /// AVX-512 VNNI and VL (the EVEX form of the same instruction, so that AVX-512 machines test
    /// the AVX-VNNI path's code).
    pub fn with_dot256() -> Option<Cpu> {
        let cpu = Cpu::with_level(SimdLevel::Avx2)?;
        let dot256 = if has_avx_vnni() {
            Dot256::Vex
        } else if has_avx512_vnni() {
            Dot256::Evex
        } else {
            return None;
        };
        Some(Cpu { dot256, ..cpu })
    }

    /// The 256-bit 8-bit dot product this Cpu may use.
    pub fn dot256(self) -> Dot256 {
        self.dot256
    }

    /// The 8-bit table lookup may use AVX-512 VBMI (`vpermi2b`).
    pub fn byte_permute(self) -> bool {
        self.vbmi
    }

    /// The 8-bit kernels may use the CPU's 8-bit dot product: AVX-512 VNNI (`vpdpbusd`) or
    /// NEON's dotprod (`sdot`).
    pub fn int8_dot(self) -> bool {
        self.vnni
    }

    /// The SIMD level the kernels use.
    pub fn level(self) -> SimdLevel {
        self.level
    }
}

/// Whether the kernels of this build have a SIMD path at all: x86_64, aarch64, and wasm32 built
/// with simd128. Elsewhere every `Cpu` is scalar.
pub const fn target_has_simd() -> bool {
    cfg!(kernel_simd)
}

/// How tools name the path a `Cpu` of `level` takes: the level's name, and for the scalar level
/// on a target without SIMD code, that it is the only path there (not a choice).
pub fn path_description(level: SimdLevel, target_has_simd: bool) -> &'static str {
    match (level, target_has_simd) {
        (SimdLevel::Scalar, false) => "scalar (this target has no SIMD path)",
        (SimdLevel::Simd128, _) if cfg!(target_feature = "relaxed-simd") => "simd128 with relaxed-simd FMA",
        (level, _) => level.name(),
    }
}

/// The level `MOBILENET_SIMD` asks for, if it is set and valid.
pub fn requested_level() -> Option<SimdLevel> {
    #[cfg(feature = "std")]
    {
        std::env::var("MOBILENET_SIMD").ok().and_then(|v| SimdLevel::parse(&v))
    }
    #[cfg(not(feature = "std"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_without_simd_says_so() {
        assert_eq!(path_description(SimdLevel::Scalar, false), "scalar (this target has no SIMD path)");
        assert_eq!(path_description(SimdLevel::Scalar, true), "scalar");
        assert_eq!(path_description(SimdLevel::Neon, true), "neon");
        // Without a SIMD path, detection can only find the scalar level.
        if !target_has_simd() {
            assert_eq!(Cpu::detect().level(), SimdLevel::Scalar);
        }
        // Every level a CPU here supports belongs to this architecture.
        assert!(SimdLevel::ALL.iter().all(|l| !l.is_supported() || l.is_for_this_arch()));
    }
}
