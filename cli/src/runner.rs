//! Building and running generated code for `mobilenetc run` and `mobilenetc bench`: the model's
//! source goes into a small crate in a cache folder, cargo builds it in release mode (once per
//! distinct generated code: the folder is named by a hash of the source and weights), and the
//! binary is run with the input as raw little-endian values of the model's input type.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use quote::quote;

use mobilenet_compiler::codegen::{self, Weights};
use mobilenet_compiler::compile::Compiled;
use mobilenet_compiler::{Error, ErrorKind, Result};

/// The mobilenet-runtime the runner is built against, as a Cargo dependency: the folder
/// `MOBILENET_RUNTIME_PATH` names; else the `runtime/` beside this program's sources when it was
/// built from a checkout of the repository; else the published crate of this version.
pub fn runtime_dependency() -> Result<String> {
    let path = match std::env::var_os("MOBILENET_RUNTIME_PATH") {
        Some(p) => PathBuf::from(p),
        None => {
            let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
            if !beside.join("Cargo.toml").is_file() {
                return Ok(format!("version = \"={}\"", env!("CARGO_PKG_VERSION")));
            }
            beside
        }
    };
    let path = path.canonicalize().ok().filter(|p| p.join("Cargo.toml").is_file()).ok_or_else(|| {
        Error::usage(format!(
            "the mobilenet-runtime crate is not at {}; set MOBILENET_RUNTIME_PATH to its folder",
            path.display()
        ))
    })?;
    Ok(format!("path = {:?}", path.display().to_string()))
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

/// A target the runner can be cross-built for and run on this machine through an emulator or
/// engine: what `scripts/setup-cross` installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossTarget {
    /// aarch64 Linux, run by qemu-aarch64 (correct results, meaningless timings).
    Aarch64,
    /// WebAssembly with WASI and simd128, run by node.
    Wasm32,
}

/// The node program that runs a WASI command module (`runner/wasi-run.mjs`, also the cargo
/// runner of the cross tests).
const WASI_RUN: &str = include_str!("../runner/wasi-run.mjs");

impl CrossTarget {
    pub fn triple(self) -> &'static str {
        match self {
            CrossTarget::Aarch64 => "aarch64-unknown-linux-gnu",
            CrossTarget::Wasm32 => "wasm32-wasip1",
        }
    }

    /// The SIMD levels generated code built for this target has.
    pub fn has_level(self, level: mobilenet_kernels::SimdLevel) -> bool {
        use mobilenet_kernels::SimdLevel;
        matches!(
            (self, level),
            (_, SimdLevel::Scalar)
                | (CrossTarget::Aarch64, SimdLevel::Neon)
                | (CrossTarget::Wasm32, SimdLevel::Simd128)
        )
    }

    /// The runner crate's cargo settings for this target.
    fn cargo_config(self) -> &'static str {
        match self {
            CrossTarget::Aarch64 => "[target.aarch64-unknown-linux-gnu]\nlinker = \"aarch64-linux-gnu-gcc\"\n",
            CrossTarget::Wasm32 => {
                "[target.wasm32-wasip1]\nrustflags = [\"-C\", \"target-feature=+simd128\", \"-L\", \"native=/usr/lib/wasm32-wasi\"]\n"
            }
        }
    }

    /// Refuses (usage error, exit 2) when a tool this target needs is missing, naming the
    /// command that installs them.
    fn check_tools(self) -> Result<()> {
        let mut tools = vec!["rustup"];
        tools.extend(match self {
            CrossTarget::Aarch64 => ["aarch64-linux-gnu-gcc", "qemu-aarch64"],
            CrossTarget::Wasm32 => ["node", "rust-lld"],
        });
        let missing: Vec<&str> = tools.into_iter().filter(|t| !on_path(t)).collect();
        let toolchain = on_path("rustup")
            && Command::new("rustup")
                .args(["run", "debian-web", "rustc", "--version"])
                .output()
                .is_ok_and(|o| o.status.success());
        let sysroot_src = Path::new("/usr/lib/rustlib/src/rust/library").is_dir();
        if missing.is_empty() && toolchain && sysroot_src {
            return Ok(());
        }
        let mut what: Vec<String> = missing.iter().map(|t| t.to_string()).collect();
        if !toolchain {
            what.push("the rustup toolchain `debian-web` (Debian's rustc-web)".into());
        }
        if !sysroot_src {
            what.push("the standard library's source (rust-web-src)".into());
        }
        Err(Error::usage(format!(
            "--target {} needs {}; `scripts/setup-cross` (in the mobilenetc repository, as root) installs them",
            self.triple(),
            what.join(", ")
        )))
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

/// A built runner binary for one compiled model (for `target`, or this machine).
pub struct Runner {
    pub binary: PathBuf,
    target: Option<CrossTarget>,
    /// The folder with the node program that runs a wasm32 runner.
    dir: PathBuf,
}

/// The runner program (`runner/main.rs`, built and linted with this crate as its `runner`
/// example), which includes the generated model from `MOBILENET_RUNNER_MODEL`.
const MAIN: &str = include_str!("../runner/main.rs");

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

/// Writes the runner crate for `compiled` into the cache (if not there yet) and builds it, for
/// this machine or for a cross `target`.
pub fn build(compiled: &Compiled, target: Option<CrossTarget>) -> Result<Runner> {
    if let Some(t) = target {
        t.check_tools()?;
    }
    let runtime = runtime_dependency()?;
    let mut c = compiled.clone();
    c.struct_name = "Model".into();
    c.visibility = "pub".into();
    let source = c.source(Weights::IncludeBytes(quote!("model.weights.bin")))?;
    let weights = codegen::weight_bytes(&c.program);
    let mut h = std::hash::DefaultHasher::new();
    (source.as_str(), &weights, runtime.as_str(), MAIN, env!("CARGO_PKG_VERSION"), target.map(CrossTarget::triple))
        .hash(&mut h);
    let key = format!("{:016x}", h.finish());
    let cache = std::path::absolute(cache_dir()).map_err(|e| Error::io(&cache_dir(), &e))?;
    let dir = cache.join(format!("runner-{key}"));
    let package = format!("runner-{key}");
    let static_target = if target.is_some() { None } else { static_target()? };
    // Cross builds have their own target folder: each builds std from source once.
    let target_dir = cache.join(if target.is_some() { "target-cross" } else { "target" });
    let binary = match (target, static_target) {
        (Some(t), _) => target_dir.join(t.triple()).join("release"),
        (None, Some(triple)) => target_dir.join(triple).join("release"),
        (None, None) => target_dir.join("release"),
    }
    .join(if target == Some(CrossTarget::Wasm32) { format!("{package}.wasm") } else { package.clone() });
    // The crate is written once per distinct generated code; cargo is asked every time, which
    // costs a fraction of a second when nothing changed and picks up a changed runtime.
    let existed = binary.is_file();
    let io = |p: &Path, e: std::io::Error| Error::io(p, &e);
    std::fs::create_dir_all(dir.join("src")).map_err(|e| io(&dir, e))?;
    let manifest = format!(
        "[package]\nname = \"{package}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nmobilenet-runtime = {{ {runtime}, default-features = false, features = [\"std\"] }}\n\n\
         [profile.release]\ndebug = false\n\n[workspace]\n"
    );
    let config = match (target, static_target) {
        (Some(t), _) => t.cargo_config().to_string(),
        (None, Some(triple)) => format!("[target.{triple}]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n"),
        (None, None) => String::new(),
    };
    std::fs::create_dir_all(dir.join(".cargo")).map_err(|e| io(&dir, e))?;
    for (name, bytes) in [
        (".cargo/config.toml", config.as_bytes()),
        ("Cargo.toml", manifest.as_bytes()),
        ("src/main.rs", MAIN.as_bytes()),
        ("src/model.rs", source.as_bytes()),
        ("src/model.weights.bin", &weights[..]),
        ("wasi-run.mjs", WASI_RUN.as_bytes()),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| io(&p, e))?;
    }
    if !existed {
        eprintln!("mobilenetc: building the generated code in {} (once per model and options)", dir.display());
    }
    let cargo = match target {
        // Debian's rustc-web through rustup (`cargo +debian-web`): the rustup toolchain has no
        // standard library for other targets; rustc-web builds it from source.
        Some(_) => "cargo".into(),
        None => std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
    };
    let mut build = Command::new(&cargo);
    if let Some(t) = target {
        // RUSTC_BOOTSTRAP lets the stable rustc-web take -Z build-std. The variables a cargo
        // running mobilenetc would set (its toolchain) must not leak into this one.
        build.env("RUSTC_BOOTSTRAP", "1").env_remove("CARGO").env_remove("RUSTC").env_remove("RUSTUP_TOOLCHAIN");
        build.args(["+debian-web", "build", "-Z", "build-std=std,panic_abort", "--target", t.triple()]);
        build.args(["--release", "--quiet", "--manifest-path"]).arg(dir.join("Cargo.toml"));
    } else {
        build.args(["build", "--release", "--quiet", "--manifest-path"]).arg(dir.join("Cargo.toml"));
    }
    // From the crate's folder, so that cargo reads its .cargo/config.toml.
    build.current_dir(&dir);
    // The model the runner program includes (set here, whatever the environment has).
    build.env("MOBILENET_RUNNER_MODEL", dir.join("src/model.rs"));
    if let Some(triple) = static_target {
        // Named, so that the static flag applies to the runner and not to build scripts.
        build.args(["--target", triple]);
    }
    let out =
        build.arg("--target-dir").arg(&target_dir).output().map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot run cargo ({}): {e}", Path::new(&cargo).display()))
        })?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "cargo could not build the generated code in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(Runner { binary, target, dir })
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
        let mut cmd = match self.target {
            None => Command::new(&self.binary),
            Some(CrossTarget::Aarch64) => {
                let mut c = Command::new("qemu-aarch64");
                c.args(["-L", "/usr/aarch64-linux-gnu"]).arg(&self.binary);
                c
            }
            Some(CrossTarget::Wasm32) => {
                let mut c = Command::new("node");
                c.arg("--no-warnings").arg(self.dir.join("wasi-run.mjs")).arg(&self.binary);
                c
            }
        };
        if let Some(level) = simd {
            cmd.env("MOBILENET_SIMD", level);
        }
        cmd.env("MOBILENET_THREADS", threads.to_string());
        cmd
    }

    /// Runs the model once on `input`.
    pub fn run(&self, input: &[u8], output_bytes: usize, simd: Option<&str>, threads: usize) -> Result<Vec<u8>> {
        let dir = tempfile_dir()?;
        let (inp, outp) = (dir.join("in.raw"), dir.join("out.raw"));
        std::fs::write(&inp, input).map_err(|e| Error::io(&inp, &e))?;
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
        if bytes.len() != output_bytes {
            return Err(Error::internal(format!(
                "the generated code wrote {} bytes, expected {output_bytes}",
                bytes.len()
            )));
        }
        Ok(bytes)
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
