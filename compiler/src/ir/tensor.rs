//! Constant tensors and element types of the IR.

use std::fmt;
use std::sync::Arc;

/// Element type of an IR value. Floats are stored as f32 (a float64 constant rounded once, as
/// Cast to float32 would round it; no arithmetic is done in float64), integers of every width
/// and booleans as i64, within the range of their type; the type is kept so that `Cast`, integer
/// arithmetic and printing stay faithful to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// float32.
    F32,
    /// float64 (constants only; computed as f32).
    F64,
    /// int8.
    I8,
    /// uint8.
    U8,
    /// int16.
    I16,
    /// uint16.
    U16,
    /// int32.
    I32,
    /// uint32.
    U32,
    /// int64.
    I64,
    /// uint64 (values above `i64::MAX` are refused).
    U64,
    /// bool, stored as 0 or 1.
    Bool,
}

impl DType {
    /// Stored as f32 (`Data::F32`): float32, and float64 constants.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
    /// Integers and booleans (`Data::I64`).
    pub fn is_int(self) -> bool {
        !self.is_float()
    }
    /// Short name for dumps (`f32`, `i64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }
    /// The values an integer type holds (`None` for floats). u64 is limited to what i64
    /// storage holds.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::I8 => (i8::MIN as i64, i8::MAX as i64),
            DType::U8 => (0, u8::MAX as i64),
            DType::I16 => (i16::MIN as i64, i16::MAX as i64),
            DType::U16 => (0, u16::MAX as i64),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::U32 => (0, u32::MAX as i64),
            DType::I64 => (i64::MIN, i64::MAX),
            DType::U64 => (0, i64::MAX),
            DType::Bool => (0, 1),
            DType::F32 | DType::F64 => return None,
        })
    }
    /// `v` as an integer of this type would hold it after ONNX's integer conversion: the low
    /// bits, two's complement (`None` for a u64 above i64::MAX, which i64 storage cannot hold).
    pub fn wrap(self, v: i64) -> Option<i64> {
        Some(match self {
            DType::I8 => v as i8 as i64,
            DType::U8 => v as u8 as i64,
            DType::I16 => v as i16 as i64,
            DType::U16 => v as u16 as i64,
            DType::I32 => v as i32 as i64,
            DType::U32 => v as u32 as i64,
            DType::U64 if v < 0 => return None,
            DType::Bool => (v != 0) as i64,
            _ => v,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Element storage: floats, or integers of any width (and booleans) widened to i64. Shared:
/// cloning a graph (the imported one is kept beside the optimised one) copies no weights; a
/// pass that changes a tensor copies it first if another graph still holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Float elements.
    F32(Arc<Vec<f32>>),
    /// Integer and boolean elements, widened.
    I64(Arc<Vec<i64>>),
}

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: Data,
}

impl Tensor {
    /// A float32 tensor.
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Tensor { dtype: DType::F32, shape, data: Data::F32(Arc::new(values)) }
    }
    /// An integer or boolean tensor of type `dtype`.
    pub fn int(dtype: DType, shape: Vec<usize>, values: Vec<i64>) -> Tensor {
        debug_assert!(!dtype.is_float());
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Tensor { dtype, shape, data: Data::I64(Arc::new(values)) }
    }
    /// A 1-D int64 tensor.
    pub fn i64_vec(values: Vec<i64>) -> Tensor {
        Tensor::int(DType::I64, vec![values.len()], values)
    }
    /// A rank-0 float32 tensor.
    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor::f32(vec![], vec![v])
    }
    /// A float32 tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor::f32(shape, vec![0.0; n])
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }
    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float elements; `None` for integer tensors.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }
    /// The float elements, mutably (copied first if shared); `None` for integer tensors.
    pub fn as_f32_mut(&mut self) -> Option<&mut Vec<f32>> {
        match &mut self.data {
            Data::F32(v) => Some(Arc::make_mut(v)),
            Data::I64(_) => None,
        }
    }
    /// The integer elements; `None` for float tensors.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }

    /// Elements converted to f64, whatever the storage (for printing and attribute reads).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// The single value of a one-element tensor, as f32.
    pub fn scalar_value(&self) -> Option<f32> {
        if self.len() != 1 {
            return None;
        }
        Some(match &self.data {
            Data::F32(v) => v[0],
            Data::I64(v) => v[0] as f32,
        })
    }

    /// Its static type.
    pub fn type_of(&self) -> TensorType {
        TensorType { dtype: self.dtype, shape: self.shape.clone() }
    }
}

/// Row-major strides of a shape (in elements): the one definition the interpreter and lowering
/// share.
pub fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The static type of an IR value: element type and concrete shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
}

impl TensorType {
    /// A type from its parts.
    pub fn new(dtype: DType, shape: Vec<usize>) -> Self {
        TensorType { dtype, shape }
    }
    /// A float32 type.
    pub fn f32(shape: Vec<usize>) -> Self {
        TensorType { dtype: DType::F32, shape }
    }
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str("x")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}
