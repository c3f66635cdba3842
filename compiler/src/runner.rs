//! Building and running generated code for `mobilenetc run` and `mobilenetc bench`: the model's
//! source goes into a small crate in a cache folder, cargo builds it in release mode (once per
//! distinct generated code: the folder is named by a hash of the source and weights), and the
//! binary is run with the input as raw little-endian f32.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use quote::quote;

use crate::codegen::{self, Weights};
use crate::compile::Compiled;
use crate::error::{Error, ErrorKind, Result};

/// Where the runtime crate is: `MOBILENET_RUNTIME_PATH`, else the one beside this compiler's
/// sources.
pub fn runtime_path() -> Result<PathBuf> {
    let path = std::env::var_os("MOBILENET_RUNTIME_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime"));
    path.join("Cargo.toml").is_file().then(|| path.canonicalize().unwrap_or(path.clone())).ok_or_else(|| {
        Error::usage(format!(
            "the mobilenet-runtime crate is not at {}; set MOBILENET_RUNTIME_PATH to its folder",
            path.display()
        ))
    })
}

/// The cache folder: `MOBILENETC_CACHE`, else `$XDG_CACHE_HOME/mobilenetc`, else
/// `$HOME/.cache/mobilenetc`, else the temporary directory.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("MOBILENETC_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("mobilenetc");
    }
    if let Some(p) = std::env::var_os("HOME") {
        return PathBuf::from(p).join(".cache/mobilenetc");
    }
    std::env::temp_dir().join("mobilenetc")
}

/// A built runner binary for one compiled model.
pub struct Runner {
    pub binary: PathBuf,
    /// True when this call had to build it (false: reused from the cache).
    pub built: bool,
}

const MAIN: &str = r#"// The runner mobilenetc builds around a generated model.
include!("model.rs");

use std::io::Write;

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
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
    let x = vec![0.5f32; Model::INPUT_LEN];
    let x: &[f32; Model::INPUT_LEN] = x.as_slice().try_into().unwrap();
    for _ in 0..10 {
        std::hint::black_box(net.run(x));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    let mut line = String::new();
    while { line.clear(); std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) } {
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
            let x = read_f32(&args[2]);
            let y = net.run_slice(&x).unwrap_or_else(|e| fail(&e.to_string()));
            let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&args[3], bytes).unwrap_or_else(|e| fail(&e.to_string()));
        }
        Some("bench") => {
            long_running(&mut net);
            let warmup: usize = args[2].parse().unwrap_or(10);
            let runs: usize = args[3].parse().unwrap_or(50);
            // A fixed pseudo-random input (the timing does not depend on the values).
            let mut s = 0x2545_f491u32;
            let x: Vec<f32> = (0..Model::INPUT_LEN)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    (s as f32 / u32::MAX as f32) * 2.0 - 1.0
                })
                .collect();
            let x: &[f32; Model::INPUT_LEN] = x.as_slice().try_into().unwrap();
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
                "{{\"runs\": {runs}, \"warmup\": {warmup}, \"median_ms\": {median:.4}, \"min_ms\": {:.4}, \"mean_ms\": {mean:.4}, \"max_ms\": {:.4}, \"batch\": {}, \"threads\": {}, \"simd\": \"{}\", \"arena_bytes\": {}}}",
                times[0],
                times[runs - 1],
                Model::BATCH,
                net.threads(),
                net.cpu().level().name(),
                Model::ARENA_BYTES,
            );
        }
        Some("once") => {
            // Cold start: the process is timed from spawn to its output by the caller.
            // `once in-place` leaves the weights' pages to the first inference (to measure the helper).
            if args.get(2).map(String::as_str) != Some("in-place") {
                net.map_weights_in_background();
            }
            let x = vec![0.5f32; Model::INPUT_LEN];
            let y = net.run_slice(&x).unwrap_or_else(|e| fail(&e.to_string()));
            println!("{}", y.iter().sum::<f32>());
        }
        Some("serve") => {
            long_running(&mut net);
            serve(&mut net)
        }
        _ => fail("usage: runner run IN OUT | runner bench WARMUP RUNS | runner once [in-place] | runner serve"),
    }
}
"#;

/// The target the runner is linked statically for, where glibc's static libraries are the
/// norm (x86_64 Linux), unless `MOBILENETC_LINK=dynamic`: a process that needs no dynamic
/// loader starts about 0.3 ms sooner, a twentieth of MobileNetV1's cold start (the same runner
/// built both ways, spawned alternately from Python 40 times: median difference 0.29-0.30 ms).
/// Valgrind's memcheck needs the dynamic form to check heap blocks. A `RUSTFLAGS` in the
/// environment replaces this setting (the runner is then linked as those flags say).
fn static_target() -> Result<Option<&'static str>> {
    let native = cfg!(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"));
    match std::env::var("MOBILENETC_LINK").as_deref() {
        Err(_) | Ok("static") => Ok(native.then_some("x86_64-unknown-linux-gnu")),
        Ok("dynamic") => Ok(None),
        Ok(other) => Err(Error::usage(format!("MOBILENETC_LINK={other}: expected `static` or `dynamic`"))),
    }
}

/// Writes the runner crate for `compiled` into the cache (if not there yet) and builds it.
pub fn build(compiled: &Compiled) -> Result<Runner> {
    let runtime = runtime_path()?;
    let mut c = compiled.clone();
    c.struct_name = "Model".into();
    c.visibility = "pub".into();
    let source = c.source(Weights::IncludeBytes(quote!("model.weights.bin")))?;
    let weights = codegen::weight_bytes(&c.program);
    let mut h = std::hash::DefaultHasher::new();
    (source.as_str(), &weights, runtime.to_string_lossy().as_ref(), MAIN, env!("CARGO_PKG_VERSION")).hash(&mut h);
    let key = format!("{:016x}", h.finish());
    let cache = std::path::absolute(cache_dir()).map_err(|e| Error::io(&cache_dir(), &e))?;
    let dir = cache.join(format!("runner-{key}"));
    let package = format!("runner-{key}");
    let static_target = static_target()?;
    let binary = match static_target {
        Some(triple) => cache.join("target").join(triple).join("release"),
        None => cache.join("target/release"),
    }
    .join(&package);
    // The crate is written once per distinct generated code; cargo is asked every time, which
    // costs a fraction of a second when nothing changed and picks up a changed runtime.
    let existed = binary.is_file();
    let io = |p: &Path, e: std::io::Error| Error::io(p, &e);
    std::fs::create_dir_all(dir.join("src")).map_err(|e| io(&dir, e))?;
    let manifest = format!(
        "[package]\nname = \"{package}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nmobilenet-runtime = {{ path = {:?}, default-features = false, features = [\"std\"] }}\n\n\
         [profile.release]\ndebug = false\n\n[workspace]\n",
        runtime.display().to_string()
    );
    let config = match static_target {
        Some(triple) => format!("[target.{triple}]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n"),
        None => String::new(),
    };
    std::fs::create_dir_all(dir.join(".cargo")).map_err(|e| io(&dir, e))?;
    for (name, bytes) in [
        (".cargo/config.toml", config.as_bytes()),
        ("Cargo.toml", manifest.as_bytes()),
        ("src/main.rs", MAIN.as_bytes()),
        ("src/model.rs", source.as_bytes()),
        ("src/model.weights.bin", &weights[..]),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| io(&p, e))?;
    }
    if !existed {
        eprintln!("mobilenetc: building the generated code in {} (once per model and options)", dir.display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(&cargo);
    // From the crate's folder, so that cargo reads its .cargo/config.toml.
    build.current_dir(&dir).args(["build", "--release", "--quiet", "--manifest-path"]).arg(dir.join("Cargo.toml"));
    if let Some(triple) = static_target {
        // Named, so that the static flag applies to the runner and not to build scripts.
        build.args(["--target", triple]);
    }
    let out =
        build.arg("--target-dir").arg(cache.join("target")).output().map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot run cargo ({}): {e}", Path::new(&cargo).display()))
        })?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "cargo could not build the generated code in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(Runner { binary, built: !existed })
}

/// `MOBILENET_WEIGHTS`, which the runner reads in its long-running modes, checked before it runs,
/// so that a typo is a usage error and not a failed benchmark.
fn check_weights_setting() -> Result<()> {
    match std::env::var("MOBILENET_WEIGHTS").as_deref() {
        Err(_) | Ok("embedded" | "huge-pages") => Ok(()),
        Ok(other) => Err(Error::usage(format!("MOBILENET_WEIGHTS={other}: expected `embedded` or `huge-pages`"))),
    }
}

impl Runner {
    fn command(&self, simd: Option<&str>, threads: usize) -> Command {
        let mut cmd = Command::new(&self.binary);
        if let Some(level) = simd {
            cmd.env("MOBILENET_SIMD", level);
        }
        cmd.env("MOBILENET_THREADS", threads.to_string());
        cmd
    }

    /// Runs the model once on `input`.
    pub fn run(&self, input: &[f32], output_len: usize, simd: Option<&str>, threads: usize) -> Result<Vec<f32>> {
        let dir = tempfile_dir()?;
        let (inp, outp) = (dir.join("in.f32"), dir.join("out.f32"));
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&inp, bytes).map_err(|e| Error::io(&inp, &e))?;
        let out = self
            .command(simd, threads)
            .arg("run")
            .arg(&inp)
            .arg(&outp)
            .output()
            .map_err(|e| Error::io(&self.binary, &e))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "the generated code failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let bytes = std::fs::read(&outp).map_err(|e| Error::io(&outp, &e))?;
        let _ = std::fs::remove_dir_all(&dir);
        let y: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if y.len() != output_len {
            return Err(Error::internal(format!("the generated code wrote {} values, expected {output_len}", y.len())));
        }
        Ok(y)
    }

    /// Replaces this process by the runner in `serve` mode (the benchmark-worker protocol).
    #[cfg(unix)]
    pub fn exec_serve(&self, simd: Option<&str>, threads: usize) -> Error {
        use std::os::unix::process::CommandExt;
        if let Err(e) = check_weights_setting() {
            return e;
        }
        let e = self.command(simd, threads).arg("serve").exec();
        Error::io(&self.binary, &e)
    }

    /// The runner binary (for cold-start measurements: `BINARY once`).
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Times `runs` warm runs after `warmup` and returns the runner's JSON report.
    pub fn bench(&self, warmup: usize, runs: usize, simd: Option<&str>, threads: usize) -> Result<serde_json::Value> {
        check_weights_setting()?;
        let out = self
            .command(simd, threads)
            .args(["bench", &warmup.to_string(), &runs.max(1).to_string()])
            .output()
            .map_err(|e| Error::io(&self.binary, &e))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "the benchmark failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| Error::internal(format!("unreadable benchmark report: {e}")))
    }
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mobilenetc-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, &e))?;
    Ok(dir)
}
