//! One error type for every stage, carrying the context a user needs to find the problem:
//! the file, and for graph problems the node (name, op type, domain, opset).

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, broadly. The CLI exits with status 2 for every kind; an `Internal` one (a
/// compiler bug, a panic included) says "internal compiler error".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    Io,
    /// The bytes are not a decodable ONNX model.
    Decode,
    /// Valid ONNX that this compiler does not handle (an op, an attribute value, a data type).
    Unsupported,
    /// The model contradicts itself (undefined tensor, cycle, mismatched shapes, bad external data).
    Invalid,
    /// A configured resource limit was exceeded (dimension, element count, node count, ...).
    Limit,
    /// The caller asked for something that does not fit the model (wrong input shape, bad option).
    Usage,
    /// A bug in the compiler: an invariant it relies on did not hold.
    Internal,
}

/// The ONNX node an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeContext {
    /// The node's name in the file (may be empty: ONNX does not require one).
    pub name: String,
    /// Its op type, e.g. `Conv`.
    pub op_type: String,
    /// Its operator-set domain (empty for the default ONNX domain).
    pub domain: String,
    /// The opset version of that domain the model imports.
    pub opset: i64,
}

impl fmt::Display for NodeContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.name.is_empty() { "<unnamed>" } else { &self.name };
        let domain = if self.domain.is_empty() || self.domain == "ai.onnx" {
            String::new()
        } else {
            format!("{}.", self.domain)
        };
        write!(f, "node '{name}' ({domain}{}", self.op_type)?;
        if self.opset > 0 {
            write!(f, ", opset {}", self.opset)?;
        }
        write!(f, ")")
    }
}

/// A compiler error: a kind, a message, and where it happened. Boxed, so that `Result`s stay
/// one pointer wide on the happy path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Error(Box<Inner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    message: String,
    file: Option<PathBuf>,
    node: Option<NodeContext>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if let Some(file) = &e.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(node) = &e.node {
            write!(f, "{node}: ")?;
        }
        if e.kind == ErrorKind::Internal {
            write!(f, "internal compiler error: ")?;
        }
        write!(f, "{}", e.message)
    }
}

/// A `Result` whose error is the compiler's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of the given kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner { kind, message: message.into(), file: None, node: None }))
    }
    /// What kind of error it is (for exit codes and tests).
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// The message without file and node context.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// The file the error is about, if known.
    pub fn file(&self) -> Option<&Path> {
        self.0.file.as_deref()
    }
    /// The ONNX node the error is about, if any.
    pub fn node(&self) -> Option<&NodeContext> {
        self.0.node.as_ref()
    }
    /// The model is malformed or inconsistent.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    /// The model is valid ONNX but uses something the compiler does not support.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// The caller asked for something impossible (options, arguments).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    /// The model exceeds a configured limit.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Limit, message)
    }
    /// A bug in the compiler: an invariant did not hold.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// An I/O error on `path`.
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, err.to_string()).in_file(path)
    }

    /// Attach the file, unless a more specific one (an external-data file) is already named.
    pub fn in_file(mut self, path: &Path) -> Self {
        if self.0.file.is_none() {
            self.0.file = Some(path.to_path_buf());
        }
        self
    }

    /// Attach the node, unless the error already names one.
    pub fn at_node(mut self, node: &NodeContext) -> Self {
        if self.0.node.is_none() {
            self.0.node = Some(node.clone());
        }
        self
    }
}

/// `bail!(kind, "...")` style shorthand used across the crate.
macro_rules! err {
    ($ctor:ident, $($arg:tt)*) => {
        $crate::error::Error::$ctor(format!($($arg)*))
    };
}
pub(crate) use err;
