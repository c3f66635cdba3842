//! Every fixture through both doors (see build.rs), in one registry the tests walk.

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

/// Models compiled by build.rs with `Compiler::write_to_out_dir`.
pub mod build_door {
    include!(concat!(env!("OUT_DIR"), "/build_door.rs"));
}

/// The same models through `mobilenet_model!`.
pub mod macro_door {
    include!(concat!(env!("OUT_DIR"), "/macro_door.rs"));
}

pub type Runner = fn(Cpu, &[f32]) -> Vec<f32>;

pub struct Entry {
    pub name: &'static str,
    /// Index into `mobilenet_tests::all_fixtures()`.
    pub fixture: usize,
    pub build_door: Runner,
    pub macro_door: Runner,
    /// The macro door's model (`threads = 2`) on 2 threads.
    pub macro_threads2: Runner,
    /// The build.rs door's model reading its weights from `copy_weights_to_huge_pages`' copy.
    pub copied_weights: Runner,
    /// The model compiled for batch 4, when its batch is symbolic.
    pub batch4: Option<Runner>,
}

pub static MODELS: &[Entry] = include!(concat!(env!("OUT_DIR"), "/entries.rs"));
