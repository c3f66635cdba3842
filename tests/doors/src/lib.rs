//! Every fixture through both doors (see build.rs), in one registry the tests walk.
//!
//! `missing_docs` is denied so that generated code documents every public item it emits.

#![deny(missing_docs)]

use mobilenet_runtime::Cpu;

macro_rules! run {
    ($model:ty, $cpu:expr, $x:expr) => {{
        let mut m = <$model>::new();
        m.set_cpu($cpu);
        m.run_slice($x).expect("input length").to_vec()
    }};
    ($model:ty, $cpu:expr, $x:expr, threads $n:expr) => {{
        let mut m = <$model>::new();
        m.set_cpu($cpu);
        m.set_threads($n).expect("compiled for that many threads");
        m.run_slice($x).expect("input length").to_vec()
    }};
    ($model:ty, $cpu:expr, $x:expr, copied) => {{
        let mut m = <$model>::new();
        m.set_cpu($cpu);
        m.copy_weights_to_huge_pages();
        m.run_slice($x).expect("input length").to_vec()
    }};
}

/// The element types models take and give, as f64 (exact for all of them).
pub trait Element: Copy {
    /// `v` as this type (`v` holds one of its values).
    fn from_f64(v: f64) -> Self;
    /// The value as f64.
    fn to_f64(self) -> f64;
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
element!(f32, u8, i8);

/// Runs a model of any element types on values given and returned as f64.
macro_rules! run_any {
    ($model:ty, $cpu:expr, $x:expr $(, threads $n:expr)?) => {{
        let mut m = <$model>::new();
        m.set_cpu($cpu);
        $(m.set_threads($n).expect("compiled for that many threads");)?
        let x: Vec<_> = $x.iter().map(|&v| Element::from_f64(v)).collect();
        m.run_slice(&x).expect("input length").iter().map(|v| v.to_f64()).collect()
    }};
}

/// Models compiled by build.rs with `Compiler::write_to_out_dir`.
pub mod build_door {
    include!(concat!(env!("OUT_DIR"), "/build_door.rs"));
}

/// The same models through `mobilenet_model!`.
pub mod macro_door {
    include!(concat!(env!("OUT_DIR"), "/macro_door.rs"));
}

/// Runs one model on one input with a given SIMD path.
pub type Runner = fn(Cpu, &[f32]) -> Vec<f32>;

/// One fixture's model through every door.
pub struct Entry {
    /// The fixture's name.
    pub name: &'static str,
    /// Index into `mobilenet_tests::all_fixtures()`.
    pub fixture: usize,
    /// The model compiled by build.rs.
    pub build_door: Runner,
    /// The model compiled by `mobilenet_model!`.
    pub macro_door: Runner,
    /// The macro door's model (`threads = 2`) on 2 threads.
    pub macro_threads2: Runner,
    /// The build.rs door's model reading its weights from `copy_weights_to_huge_pages`' copy.
    pub copied_weights: Runner,
    /// The model compiled for batch 4, when its batch is symbolic.
    pub batch4: Option<Runner>,
}

/// Runs a model of any element types, its input and output as f64.
pub type AnyRunner = fn(Cpu, &[f64]) -> Vec<f64>;

/// One quantised model through both doors.
pub struct Int8Entry {
    /// The fixture's name.
    pub name: &'static str,
    /// Index into `mobilenet_tests::int8_fixtures()`.
    pub fixture: usize,
    /// The model compiled by build.rs.
    pub build_door: AnyRunner,
    /// The model compiled by `mobilenet_model!` (`threads = 2`), on 2 threads.
    pub macro_threads2: AnyRunner,
}

/// Every quantised model's entry (none without ../shared).
pub static INT8_MODELS: &[Int8Entry] = include!(concat!(env!("OUT_DIR"), "/int8_entries.rs"));

/// Every fixture's entry.
pub static MODELS: &[Entry] = include!(concat!(env!("OUT_DIR"), "/entries.rs"));
