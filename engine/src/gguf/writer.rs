//! Writing GGUF files (version 3): used by the tests to make small random-weight models, and
//! later by model creation and quantization.

use std::io::Write;
use std::path::Path;

use rollama_kernels::GgmlType;

use super::{GgufError, Value, ValueType, DEFAULT_ALIGNMENT, MAGIC};

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

/// Collects metadata and tensors, then writes them in one go.
pub struct GgufWriter {
    alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter::new()
    }
}

impl GgufWriter {
    pub fn new() -> GgufWriter {
        GgufWriter { alignment: DEFAULT_ALIGNMENT, metadata: Vec::new(), tensors: Vec::new() }
    }

    /// Adds a metadata pair; `general.alignment` (a u32 power of two) also sets the alignment.
    pub fn add(&mut self, key: &str, value: Value) -> &mut Self {
        if key == "general.alignment" {
            if let Value::U32(a) = value {
                if a.is_power_of_two() {
                    self.alignment = u64::from(a);
                }
            }
        }
        self.metadata.push((key.to_string(), value));
        self
    }

    pub fn add_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.add(key, Value::String(v.to_string()))
    }
    pub fn add_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.add(key, Value::U32(v))
    }
    pub fn add_f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.add(key, Value::F32(v))
    }
    pub fn add_bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.add(key, Value::Bool(v))
    }
    pub fn add_str_array(&mut self, key: &str, items: &[&str]) -> &mut Self {
        let items = items.iter().map(|s| Value::String(s.to_string())).collect();
        self.add(key, Value::Array { elem: ValueType::String, items })
    }
    pub fn add_f32_array(&mut self, key: &str, items: &[f32]) -> &mut Self {
        let items = items.iter().map(|&v| Value::F32(v)).collect();
        self.add(key, Value::Array { elem: ValueType::F32, items })
    }
    pub fn add_i32_array(&mut self, key: &str, items: &[i32]) -> &mut Self {
        let items = items.iter().map(|&v| Value::I32(v)).collect();
        self.add(key, Value::Array { elem: ValueType::I32, items })
    }

    /// Adds a tensor; `dims` in ggml order (row length first). The data length must match.
    pub fn add_tensor(
        &mut self,
        name: &str,
        ty: GgmlType,
        dims: &[u64],
        data: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let bad = |reason: String| GgufError::BadTensor { name: name.to_string(), reason };
        if dims.is_empty() || dims.len() > super::MAX_DIMS {
            return Err(bad(format!("{} dimensions", dims.len())));
        }
        let row_bytes = usize::try_from(dims[0])
            .ok()
            .and_then(|n| ty.row_bytes(n))
            .ok_or_else(|| bad(format!("row length {} does not fit type {}", dims[0], ty.name())))?;
        let rows: u64 = dims[1..].iter().product();
        let expected = (row_bytes as u64).checked_mul(rows).ok_or_else(|| bad("size overflows".into()))?;
        if data.len() as u64 != expected {
            return Err(bad(format!("data is {} bytes, dims {dims:?} of {} need {expected}", data.len(), ty.name())));
        }
        self.tensors.push(PendingTensor { name: name.to_string(), dims: dims.to_vec(), ty, data });
        Ok(self)
    }

    /// Adds an F32 tensor from values.
    pub fn add_f32_tensor(&mut self, name: &str, dims: &[u64], values: &[f32]) -> Result<&mut Self, GgufError> {
        self.add_tensor(name, GgmlType::F32, dims, bytemuck::cast_slice(values).to_vec())
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut out, key);
            out.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            put_string(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + t.data.len() as u64).div_ceil(self.alignment) * self.alignment;
        }
        pad_to(&mut out, self.alignment);
        let data_start = out.len() as u64;
        for (t, off) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend_from_slice(&t.data);
        }
        if !self.tensors.is_empty() {
            pad_to(&mut out, self.alignment);
        }
        out
    }

    /// Writes the file at `path`.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(&self.to_bytes())?;
        f.sync_all()?;
        Ok(())
    }
}

fn pad_to(out: &mut Vec<u8>, alignment: u64) {
    let len = (out.len() as u64).div_ceil(alignment) * alignment;
    out.resize(len as usize, 0);
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_string(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array { elem, items } => {
            out.extend_from_slice(&(*elem as u32).to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}
