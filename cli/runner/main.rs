//! The runner `mobilenetc run` and `mobilenetc bench` build around a generated model: it reads
//! raw little-endian values of the model's input type (f32, u8 or i8) and writes its output's, times warm runs, serves the benchmark-worker
//! protocol, or runs once for cold-start measurements. The model's source comes from the file
//! `MOBILENET_RUNNER_MODEL` names (mobilenetc sets it for the crate it writes; this crate's
//! build script points it at `runner/example_model.rs` so that the program is built and linted
//! with the rest).

include!(env!("MOBILENET_RUNNER_MODEL"));

use std::io::Write;

/// The element types a model takes or gives, as raw little-endian bytes.
trait Element: Copy + Sized {
    const SIZE: usize;
    fn from_le(bytes: &[u8]) -> Self;
    fn to_le(self, out: &mut Vec<u8>);
    /// `x` in [-1, 1] as an input value (a byte for 8-bit models).
    fn from_unit(x: f32) -> Self;
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    const SIZE: usize = 4;
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_unit(x: f32) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Element for u8 {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        b[0]
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    fn from_unit(x: f32) -> Self {
        ((x + 1.0) * 127.5) as u8
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Element for i8 {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        b[0] as i8
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn from_unit(x: f32) -> Self {
        (x * 127.0) as i8
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

fn read_raw<T: Element>(path: &str) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    bytes.chunks_exact(T::SIZE).map(T::from_le).collect()
}

fn write_raw<T: Element>(values: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * T::SIZE);
    values.iter().for_each(|v| v.to_le(&mut out));
    out
}

/// `len` copies of `x` as the model's input type (the call to `run` names the type).
fn constant<T: Element>(x: f32, len: usize) -> Vec<T> {
    vec![T::from_unit(x); len]
}

fn fail(msg: &str) -> ! {
    eprintln!("runner: {msg}");
    std::process::exit(2)
}

/// The long-running modes (`bench`, `serve`) read the weights from a copy on huge pages, as a
/// server would (`copy_weights_to_huge_pages`); `MOBILENET_WEIGHTS=embedded` keeps them in place
/// (to measure what the copy does). `run` and `once` are one inference: they read the weights in
/// place and have them mapped on a helper thread meanwhile (`map_weights_in_background`).
fn long_running(net: &mut Model) {
    match std::env::var("MOBILENET_WEIGHTS").as_deref() {
        Ok("embedded") => {}
        Ok("huge-pages") | Err(_) => net.copy_weights_to_huge_pages(),
        Ok(other) => fail(&format!("MOBILENET_WEIGHTS={other}: expected `embedded` or `huge-pages`")),
    }
}

/// The benchmark-worker protocol of bench/compare.py, on stdin/stdout: `ready` once warm, then
/// for each line `time MS`, back-to-back inferences for MS milliseconds (at least one) answered
/// with a JSON list of their durations in ms; `quit` ends.
fn serve(net: &mut Model) {
    let x = constant(0.5, Model::INPUT_LEN);
    let x = x.as_slice().try_into().unwrap();
    for _ in 0..10 {
        std::hint::black_box(net.run(x));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    let mut line = String::new();
    while {
        line.clear();
        std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false)
    } {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|w| w.parse::<f64>().ok())) {
            (Some("time"), Some(ms)) => {
                let start = std::time::Instant::now();
                let mut times = Vec::new();
                while times.is_empty() || start.elapsed().as_secs_f64() * 1e3 < ms {
                    let t = std::time::Instant::now();
                    std::hint::black_box(net.run(std::hint::black_box(x)));
                    times.push(format!("{:.4}", t.elapsed().as_secs_f64() * 1e3));
                }
                let _ = writeln!(out, "[{}]", times.join(","));
                let _ = out.flush();
            }
            (Some("quit"), _) => break,
            _ => fail("protocol: expected 'time MS' or 'quit'"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut net = Model::new();
    let threads = std::env::var("MOBILENET_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    net.set_threads(threads).unwrap_or_else(|e| fail(&e.to_string()));
    match args.get(1).map(String::as_str) {
        Some("run") => {
            net.map_weights_in_background();
            let x = read_raw(&args[2]);
            let y = net.run_slice(&x).unwrap_or_else(|e| fail(&e.to_string()));
            std::fs::write(&args[3], write_raw(y)).unwrap_or_else(|e| fail(&e.to_string()));
        }
        Some("bench") => {
            long_running(&mut net);
            let warmup: usize = args[2].parse().unwrap_or(10);
            let runs: usize = args[3].parse().unwrap_or(50);
            // A fixed pseudo-random input (the timing does not depend on the values).
            let mut s = 0x2545_f491u32;
            let x: Vec<_> = (0..Model::INPUT_LEN)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    Element::from_unit((s as f32 / u32::MAX as f32) * 2.0 - 1.0)
                })
                .collect();
            let x = x.as_slice().try_into().unwrap();
            for _ in 0..warmup {
                std::hint::black_box(net.run(std::hint::black_box(x)));
            }
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let t = std::time::Instant::now();
                std::hint::black_box(net.run(std::hint::black_box(x)));
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let median = if runs % 2 == 1 { times[runs / 2] } else { (times[runs / 2 - 1] + times[runs / 2]) / 2.0 };
            let mean = times.iter().sum::<f64>() / runs as f64;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{{\"runs\": {runs}, \"warmup\": {warmup}, \"median_ms\": {median:.4}, \"min_ms\": {:.4}, \"mean_ms\": {mean:.4}, \"max_ms\": {:.4}, \"batch\": {}, \"threads\": {}, \"simd\": \"{}\", \"simd_path\": \"{}\", \"arena_bytes\": {}}}",
                times[0],
                times[runs - 1],
                Model::BATCH,
                net.threads(),
                net.cpu().level().name(),
                mobilenet_runtime::path_description(net.cpu().level(), mobilenet_runtime::target_has_simd()),
                Model::ARENA_BYTES,
            );
        }
        Some("once") => {
            // Cold start: the process is timed from spawn to its output by the caller.
            // `once in-place` leaves the weights' pages to the first inference (to measure the helper).
            if args.get(2).map(String::as_str) != Some("in-place") {
                net.map_weights_in_background();
            }
            let x = constant(0.5, Model::INPUT_LEN);
            let y = net.run_slice(&x).unwrap_or_else(|e| fail(&e.to_string()));
            println!("{}", y.iter().map(|v| v.to_f64()).sum::<f64>());
        }
        Some("serve") => {
            long_running(&mut net);
            serve(&mut net)
        }
        _ => fail("usage: runner run IN OUT | runner bench WARMUP RUNS | runner once [in-place] | runner serve"),
    }
}

/// Debian's wasi-libc (2022) lacks `pthread_join` and `pthread_detach`, which std references on
/// wasm32-wasip1; the runner never starts a thread there (the kernels have no workers on
/// WebAssembly), so both only report ENOSYS (52 in WASI's numbering). A newer wasi-libc's own
/// definitions are then simply not pulled from the archive.
#[cfg(target_os = "wasi")]
mod wasi_threads {
    #[unsafe(no_mangle)]
    extern "C" fn pthread_detach(_thread: usize) -> i32 {
        52
    }
    #[unsafe(no_mangle)]
    extern "C" fn pthread_join(_thread: usize, _result: *mut *mut u8) -> i32 {
        52
    }
}
