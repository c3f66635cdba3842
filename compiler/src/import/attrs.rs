//! Typed access to a node's attributes, with errors that name the attribute.

use std::collections::HashMap;

use super::super::onnx::proto::{AttributeProto, TensorProto, attribute_type as at};
use crate::error::{Result, err};

pub struct Attrs<'m> {
    map: HashMap<&'m str, &'m AttributeProto>,
}

impl<'m> Attrs<'m> {
    pub fn new(attrs: &'m [AttributeProto]) -> Result<Self> {
        let mut map = HashMap::new();
        for a in attrs {
            if matches!(a.r#type, at::GRAPH | at::GRAPHS) {
                return Err(err!(
                    unsupported,
                    "attribute '{}' holds a sub-graph; control flow (If/Loop/Scan) is not supported",
                    a.name
                ));
            }
            if !a.ref_attr_name.is_empty() {
                return Err(err!(
                    unsupported,
                    "attribute '{}' refers to a function attribute; functions are not supported",
                    a.name
                ));
            }
            if map.insert(a.name.as_str(), a).is_some() {
                return Err(err!(invalid, "attribute '{}' is given twice", a.name));
            }
        }
        Ok(Attrs { map })
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn get(&self, name: &str, ty: i32, ty_name: &str) -> Result<Option<&'m AttributeProto>> {
        match self.map.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == ty => Ok(Some(a)),
            Some(a) => Err(err!(invalid, "attribute '{name}' should be {ty_name} but has type {}", a.r#type)),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.get(name, at::INT, "an int")?.map(|a| a.i))
    }
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }
    pub fn float(&self, name: &str) -> Result<Option<f32>> {
        Ok(self.get(name, at::FLOAT, "a float")?.map(|a| a.f))
    }
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float(name)?.unwrap_or(default))
    }
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.get(name, at::INTS, "a list of ints")?.map(|a| a.ints.clone()))
    }
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.get(name, at::FLOATS, "a list of floats")?.map(|a| a.floats.clone()))
    }
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name, at::STRING, "a string")?.map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }
    pub fn tensor(&self, name: &str) -> Result<Option<&'m TensorProto>> {
        match self.get(name, at::TENSOR, "a tensor")? {
            Some(a) => match &a.t {
                Some(t) => Ok(Some(t)),
                None => Err(err!(invalid, "attribute '{name}' has no tensor")),
            },
            None => Ok(None),
        }
    }

    /// A list of non-negative ints of a fixed length (kernel, strides, ...), or the default.
    pub fn usizes(&self, name: &str, len: usize, default: usize) -> Result<Vec<usize>> {
        match self.ints(name)? {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len && v.iter().all(|&x| (0..=i32::MAX as i64).contains(&x)) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(err!(invalid, "attribute '{name}' = {v:?} should be {len} non-negative values")),
        }
    }
}
