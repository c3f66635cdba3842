//! Shared helpers of the cross-crate tests: the fixture lists and the comparison against
//! onnxruntime's reference outputs.
//!
//! Two fixture sets exist. The project's own (models/fixtures/fixtures.toml, small generated
//! graphs) is always there. The real exports in ../shared/models/models.toml are beside the
//! checkout on CI and development machines; where they are absent, the tests that need them say
//! so and skip. `MOBILENET_SHARED_MODELS` may point at another models.toml.

pub mod diff;

use std::path::{Path, PathBuf};

use mobilenet_compiler::ir::Tensor;
use mobilenet_compiler::{InputShape, Options, ShapeOptions, npy};

/// One model with its reference data.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Short name for test names: the file stem.
    pub name: String,
    pub path: PathBuf,
    pub producer: String,
    pub input_name: String,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub reference_input: PathBuf,
    pub reference_output: PathBuf,
    pub top1: usize,
}

impl Fixture {
    /// Compile options fixing the input shape the reference data has.
    pub fn options(&self) -> Options {
        options_for(&self.input_shape)
    }
    pub fn input(&self) -> Tensor {
        read_npy(&self.reference_input)
    }
    pub fn output(&self) -> Tensor {
        read_npy(&self.reference_output)
    }
}

/// Compile options fixing the input shape.
fn options_for(shape: &[usize]) -> Options {
    Options {
        shapes: ShapeOptions { batch: None, input_shapes: vec![InputShape { name: None, dims: shape.to_vec() }] },
        ..Options::default()
    }
}

/// A reference tensor.
fn read_npy(path: &Path) -> Tensor {
    npy::read(path, 1 << 30).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(serde::Deserialize)]
struct Manifest {
    model: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    path: String,
    producer: String,
    input: InputEntry,
    output_shape: Vec<usize>,
    reference_input: String,
    reference_output: String,
    top1: usize,
}

#[derive(serde::Deserialize)]
struct InputEntry {
    name: String,
    shape: Vec<usize>,
}

/// One quantised model of ../shared/models/int8.toml with its reference data and tolerance.
#[derive(Clone, Debug)]
pub struct Int8Fixture {
    /// Short name: the file stem.
    pub name: String,
    pub path: PathBuf,
    pub input_shape: Vec<usize>,
    pub reference_input: PathBuf,
    pub reference_output: PathBuf,
    /// Parity bound: `max |diff| <= rel * max |ref| + abs`.
    pub rel: f32,
    pub abs: f32,
    pub top1: usize,
}

impl Int8Fixture {
    /// Compile options fixing the input shape the reference data has.
    pub fn options(&self) -> Options {
        options_for(&self.input_shape)
    }
    pub fn input(&self) -> Tensor {
        read_npy(&self.reference_input)
    }
    pub fn output(&self) -> Tensor {
        read_npy(&self.reference_output)
    }
}

#[derive(serde::Deserialize)]
struct Int8Manifest {
    model: Vec<Int8Entry>,
}

#[derive(serde::Deserialize)]
struct Int8Entry {
    path: String,
    input: InputEntry,
    reference_input: String,
    reference_output: String,
    tolerance: Tolerance,
    top1: usize,
}

#[derive(serde::Deserialize)]
struct Tolerance {
    rel: f32,
    abs: f32,
}

/// The quantised models of ../shared/models/int8.toml, or `None` (with a note) where absent.
pub fn int8_fixtures() -> Option<Vec<Int8Fixture>> {
    let path = shared_manifest().with_file_name("int8.toml");
    if !path.exists() {
        eprintln!("note: {} is absent; the tests on quantised models are skipped", path.display());
        return None;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: Int8Manifest = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = path.parent().expect("a manifest has a folder");
    let fixtures = manifest
        .model
        .into_iter()
        .map(|m| Int8Fixture {
            name: m.path.rsplit('/').next().unwrap_or(&m.path).trim_end_matches(".onnx").to_string(),
            path: dir.join(&m.path),
            input_shape: m.input.shape,
            reference_input: dir.join(m.reference_input),
            reference_output: dir.join(m.reference_output),
            rel: m.tolerance.rel,
            abs: m.tolerance.abs,
            top1: m.top1,
        })
        .collect();
    Some(fixtures)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

fn read_manifest(path: &Path) -> Vec<Fixture> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: Manifest = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = path.parent().expect("a manifest has a folder");
    manifest
        .model
        .into_iter()
        .map(|m| Fixture {
            name: m.path.rsplit('/').next().unwrap_or(&m.path).trim_end_matches(".onnx").to_string(),
            path: dir.join(&m.path),
            producer: m.producer,
            input_name: m.input.name,
            input_shape: m.input.shape,
            output_shape: m.output_shape,
            reference_input: dir.join(m.reference_input),
            reference_output: dir.join(m.reference_output),
            top1: m.top1,
        })
        .collect()
}

/// The project's own generated fixtures (always present).
pub fn project_fixtures() -> Vec<Fixture> {
    read_manifest(&workspace().join("models/fixtures/fixtures.toml"))
}

/// Where the shared models manifest is expected.
pub fn shared_manifest() -> PathBuf {
    std::env::var_os("MOBILENET_SHARED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/models/models.toml"))
}

/// The real exports of ../shared/models, or `None` (with a note on stderr) where absent.
pub fn shared_fixtures() -> Option<Vec<Fixture>> {
    let path = shared_manifest();
    if !path.exists() {
        eprintln!("note: {} is absent; the tests on real exported models are skipped", path.display());
        return None;
    }
    Some(read_manifest(&path))
}

/// Every fixture available here: the project's, then the shared ones.
pub fn all_fixtures() -> Vec<Fixture> {
    let mut all = project_fixtures();
    all.extend(shared_fixtures().unwrap_or_default());
    all
}

/// max |a - b| and max |b|.
pub fn max_diff(actual: &[f32], reference: &[f32]) -> (f32, f32) {
    let diff = actual.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let scale = reference.iter().map(|b| b.abs()).fold(0f32, f32::max);
    (diff, scale)
}

/// The index of the first largest value (numpy's argmax: quantised outputs often tie).
pub fn argmax(v: &[f32]) -> usize {
    // `max_by` keeps the last of equal elements: over the reversed list, that is the first.
    v.iter().enumerate().rev().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)
}

/// A tensor's elements as f32 (8-bit integers exactly).
pub fn values(t: &Tensor) -> Vec<f32> {
    match (t.as_f32(), t.as_i64()) {
        (Some(v), _) => v.to_vec(),
        (None, Some(v)) => v.iter().map(|&x| x as f32).collect(),
        _ => Vec::new(),
    }
}

/// How many elements of two equally shaped tensors are exactly equal.
pub fn exactly_equal(a: &Tensor, b: &Tensor) -> usize {
    values(a).iter().zip(values(b)).filter(|(x, y)| **x == *y).count()
}

/// Checks `max |diff| <= rel * max |ref| + abs`, equal shapes, no NaN, and (when asked) the same
/// argmax in every row of the last axis.
pub fn check_close(actual: &Tensor, reference: &Tensor, rel: f32, abs: f32, check_argmax: bool) -> Result<(), String> {
    if actual.shape != reference.shape {
        return Err(format!("shape {:?} differs from the reference {:?}", actual.shape, reference.shape));
    }
    if actual.dtype != reference.dtype {
        return Err(format!("type {} differs from the reference {}", actual.dtype, reference.dtype));
    }
    let (a, r) = (values(actual), values(reference));
    let (a, r) = (&a[..], &r[..]);
    if a.iter().any(|v| !v.is_finite()) {
        return Err("output has NaN or infinite values".into());
    }
    let (diff, scale) = max_diff(a, r);
    if diff > rel * scale + abs {
        return Err(format!("max |diff| = {diff:e} exceeds {rel:e} * {scale:e} + {abs:e}"));
    }
    if check_argmax {
        let row = *reference.shape.last().unwrap_or(&1);
        for (i, (ra, rr)) in a.chunks(row).zip(r.chunks(row)).enumerate() {
            if argmax(ra) != argmax(rr) {
                return Err(format!("row {i}: argmax {} differs from the reference {}", argmax(ra), argmax(rr)));
            }
        }
    }
    Ok(())
}
