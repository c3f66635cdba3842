//! What the user chooses at compile time: concrete sizes for symbolic dimensions, and the
//! resource limits that keep a hostile file from exhausting memory or time.

/// Resource limits. Every one of them ends compilation with an `ErrorKind::Limit` error that
/// names the limit, never with an abort.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest ONNX file read, in bytes; also the most external data one model may read, all
    /// its files together. The compiler's peak memory is bounded by a small multiple of these
    /// bytes (README, "Limits and guarantees").
    pub max_file_bytes: u64,
    /// Most weight values: elements of all initializers and Constant nodes together, and again
    /// for the constants that constant folding computes.
    pub max_total_weights: u64,
    /// Largest arena (working memory of the generated code), in bytes.
    pub max_arena_bytes: u64,
    /// Largest single dimension of any tensor.
    pub max_dim: u64,
    /// Largest element count of any tensor.
    pub max_tensor_elements: u64,
    /// Largest tensor rank.
    pub max_rank: usize,
    /// Most nodes in the graph (ONNX nodes plus initializers). The largest MobileNet export
    /// (MobileNetV3-large quantised to QDQ) has about 1,200.
    pub max_nodes: usize,
    /// Longest name (node, tensor, attribute) accepted.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 256 << 20,
            max_total_weights: 1 << 26,
            max_arena_bytes: 1 << 30,
            max_dim: 1 << 24,
            max_tensor_elements: 1 << 28,
            max_rank: 8,
            max_nodes: 20_000,
            max_name_len: 4096,
        }
    }
}

/// A concrete shape the user gives for one graph input (all of its dimensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputShape {
    /// The graph input it applies to; `None` means "the only input".
    pub name: Option<String>,
    /// Every dimension.
    pub dims: Vec<usize>,
}

impl InputShape {
    /// Parses `1,3,224,224`, `1x3x224x224` or `NAME=1,3,224,224`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, dims) = match text.rsplit_once('=') {
            Some((name, dims)) => (Some(name.trim().to_string()), dims),
            None => (None, text),
        };
        let dims: Result<Vec<usize>, _> = dims.split([',', 'x']).map(|d| d.trim().parse::<usize>()).collect();
        match dims {
            Ok(dims) if !dims.is_empty() => Ok(InputShape { name, dims }),
            _ => Err(format!(
                "'{text}' is not a shape: write the dimensions as 1,3,224,224 (optionally NAME=1,3,224,224)"
            )),
        }
    }
}

/// Options that decide the IR's static shapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShapeOptions {
    /// Batch size for inputs whose first dimension is symbolic (default 1). When the file fixes
    /// the batch, a different value here is an error.
    pub batch: Option<usize>,
    /// Full shapes for inputs with other symbolic dimensions (or to restate fixed ones).
    pub input_shapes: Vec<InputShape>,
}

/// Everything the front half needs to turn a file into an optimized IR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Static shapes for symbolic inputs.
    pub shapes: ShapeOptions,
    /// Bounds on what a file may ask for.
    pub limits: Limits,
}
