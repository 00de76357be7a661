//! Parsing a GGUF file: header, metadata, tensor infos, then zero-copy tensor views.
//!
//! Layout (little-endian): magic "GGUF", version u32, tensor count u64, metadata count u64,
//! the metadata key/value pairs, the tensor infos (name, dims, type, offset), padding to
//! `general.alignment`, then the tensor data, each tensor at its offset from the data start.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use rollama_kernels::GgmlType;

use super::{GgufError, Value, ValueType, DEFAULT_ALIGNMENT, MAGIC};

/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: usize = 4;
/// Longest string accepted anywhere (chat templates are the longest real ones, ~10 KiB).
const MAX_STRING_LEN: u64 = 16 << 20;
/// Most elements in one array (the largest vocabularies have ~260k entries).
const MAX_ARRAY_LEN: u64 = 1 << 26;
/// Deepest nesting of arrays within arrays.
const MAX_ARRAY_DEPTH: usize = 4;
/// Most metadata pairs and most tensors in one file.
const MAX_KV_COUNT: u64 = 1 << 20;
const MAX_TENSOR_COUNT: u64 = 1 << 20;

/// Where one tensor lives and what it holds.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: the fastest-varying dimension first (dims[0] is the row length).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset from the start of the data section.
    pub offset: u64,
    /// Size in bytes of the tensor's data.
    pub size: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Number of rows: every dimension but the first, multiplied.
    pub fn n_rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }
    /// Length of a row (the first dimension).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
}

enum Storage {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file whose tensor data stays in the (memory-mapped) file.
pub struct GgufFile {
    storage: Storage,
    pub version: u32,
    pub alignment: u64,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    /// Absolute offset of the data section.
    pub data_offset: u64,
}

impl GgufFile {
    /// Maps the file at `path` and parses it.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let open_err = |source| GgufError::Open { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(open_err)?;
        let len = file.metadata().map_err(open_err)?.len();
        if len == 0 {
            return GgufFile::parse(Storage::Owned(Vec::new()));
        }
        // SAFETY: the mapping is read-only and model files are never written in place: the
        // store replaces files by rename, so the bytes under this mapping do not change.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
        GgufFile::parse(Storage::Mmap(mmap))
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        GgufFile::parse(Storage::Owned(bytes))
    }

    fn parse(storage: Storage) -> Result<GgufFile, GgufError> {
        let bytes = storage.bytes();
        let mut r = Cursor { bytes, pos: 0 };
        let magic = r.array::<4>("magic")?;
        if u32::from_le_bytes(magic) != MAGIC {
            return Err(GgufError::BadMagic { found: magic });
        }
        let version = r.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64("tensor_count")?;
        let n_kv = r.u64("metadata_kv_count")?;
        r.check_count("metadata_kv_count", n_kv, MAX_KV_COUNT, 8 + 4 + 1)?;
        // A tensor info is at least a name length, a dim count, one dim, a type and an offset.
        r.check_count("tensor_count", n_tensors, MAX_TENSOR_COUNT, 8 + 4 + 8 + 4 + 8)?;

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut key_index = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let key = r.string(&format!("metadata[{i}].key"))?;
            let type_id = r.u32(&format!("metadata {key:?} type"))?;
            let ty = ValueType::from_id(type_id).ok_or_else(|| {
                GgufError::invalid(format!("metadata {key:?} type"), format!("unknown value type {type_id}"))
            })?;
            let value = r.value(&key, ty, 0)?;
            if key_index.insert(key.clone(), metadata.len()).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }

        let alignment = match key_index.get("general.alignment").map(|&i| &metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if *a != 0 && a.is_power_of_two() => u64::from(*a),
            Some(v) => {
                return Err(GgufError::invalid(
                    "general.alignment",
                    format!("must be a non-zero power of two u32, found {v:?}"),
                ))
            }
        };

        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let name = r.string(&format!("tensor[{i}].name"))?;
            let n_dims = r.u32(&format!("tensor {name:?} n_dims"))?;
            if n_dims == 0 || n_dims as usize > MAX_DIMS {
                return Err(GgufError::BadTensor {
                    name,
                    reason: format!("{n_dims} dimensions (must be 1..={MAX_DIMS})"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for d in 0..n_dims {
                dims.push(r.u64(&format!("tensor {name:?} dim {d}"))?);
            }
            let type_id = r.u32(&format!("tensor {name:?} type"))?;
            let ty = GgmlType::from_id(type_id)
                .ok_or_else(|| GgufError::UnknownTensorType { name: name.clone(), id: type_id })?;
            let offset = r.u64(&format!("tensor {name:?} offset"))?;
            let size = tensor_size(&name, &dims, ty)?;
            if offset % alignment != 0 {
                return Err(GgufError::BadTensor {
                    name,
                    reason: format!("offset {offset} is not a multiple of the alignment {alignment}"),
                });
            }
            if tensor_index.insert(name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo { name, dims, ty, offset, size });
        }

        let file_len = bytes.len() as u64;
        let data_offset =
            align_up(r.pos as u64, alignment).ok_or_else(|| GgufError::invalid("data section", "offset overflows"))?;
        if !tensors.is_empty() && data_offset > file_len {
            return Err(GgufError::Truncated { field: "data section".into(), offset: data_offset, file_len });
        }
        let data_len = file_len.saturating_sub(data_offset);
        for t in &tensors {
            let end = t.offset.checked_add(t.size);
            if end.is_none_or(|end| end > data_len) {
                return Err(GgufError::BadTensor {
                    name: t.name.clone(),
                    reason: format!(
                        "data [{}, +{}) runs past the end of the data section ({} bytes)",
                        t.offset, t.size, data_len
                    ),
                });
            }
        }

        Ok(GgufFile { storage, version, alignment, metadata, key_index, tensors, tensor_index, data_offset })
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| GgufError::WrongType {
                key: key.to_string(),
                expected,
                found: v.value_type().name(),
            }),
        }
    }

    /// An integer value (any integer type); an error if present with another type.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.typed(key, "non-negative integer", Value::as_u64)
    }
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, GgufError> {
        self.typed(key, "integer", Value::as_i64)
    }
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.typed(key, "number", Value::as_f32)
    }
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.typed(key, "bool", Value::as_bool)
    }
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.typed(key, "string", Value::as_str)
    }
    pub fn get_array(&self, key: &str) -> Result<Option<&[Value]>, GgufError> {
        self.typed(key, "array", Value::as_array)
    }

    pub fn require_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.get_u64(key)?.ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }
    pub fn require_f32(&self, key: &str) -> Result<f32, GgufError> {
        self.get_f32(key)?.ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }
    pub fn require_str(&self, key: &str) -> Result<&str, GgufError> {
        self.get_str(key)?.ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }
    pub fn require_array(&self, key: &str) -> Result<&[Value], GgufError> {
        self.get_array(key)?.ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    /// A string array, e.g. `tokenizer.ggml.tokens`.
    pub fn get_str_array(&self, key: &str) -> Result<Option<Vec<&str>>, GgufError> {
        self.typed_array(key, "array of strings", Value::as_str)
    }
    /// A numeric array as f32, e.g. `tokenizer.ggml.scores`.
    pub fn get_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>, GgufError> {
        self.typed_array(key, "array of numbers", Value::as_f32)
    }
    /// An integer array as i64, e.g. `tokenizer.ggml.token_type`.
    pub fn get_i64_array(&self, key: &str) -> Result<Option<Vec<i64>>, GgufError> {
        self.typed_array(key, "array of integers", Value::as_i64)
    }

    fn typed_array<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        f: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>, GgufError> {
        let Some(items) = self.get_array(key)? else { return Ok(None) };
        items
            .iter()
            .map(|v| {
                f(v).ok_or_else(|| GgufError::WrongType {
                    key: key.to_string(),
                    expected,
                    found: v.value_type().name(),
                })
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The bytes of a tensor, zero-copy. Bounds were checked at parse time.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.data_offset + t.offset) as usize;
        &self.bytes()[start..start + t.size as usize]
    }

    /// A tensor by name with its bytes, or `MissingTensor`.
    pub fn tensor(&self, name: &str) -> Result<(&TensorInfo, &[u8]), GgufError> {
        let t = self.tensor_info(name).ok_or_else(|| GgufError::MissingTensor(name.to_string()))?;
        Ok((t, self.tensor_data(t)))
    }
}

/// The byte size of a tensor, with every overflow and block-size mismatch an error.
fn tensor_size(name: &str, dims: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
    let bad = |reason: String| GgufError::BadTensor { name: name.to_string(), reason };
    let mut n: u64 = 1;
    for &d in dims {
        n = n.checked_mul(d).filter(|&n| n <= i64::MAX as u64).ok_or_else(|| bad(format!("dims {dims:?} overflow")))?;
    }
    let row = usize::try_from(dims[0]).map_err(|_| bad(format!("row length {} too large", dims[0])))?;
    let row_bytes = ty.row_bytes(row).ok_or_else(|| {
        bad(format!("row length {} is not a multiple of the {} block length {}", dims[0], ty.name(), ty.block_len()))
    })? as u64;
    let rows: u64 = dims[1..].iter().product();
    row_bytes.checked_mul(rows).ok_or_else(|| bad(format!("size of dims {dims:?} overflows")))
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a - 1)? / a * a)
}

/// A bounds-checked reader over the file bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, field: &str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                field: field.to_string(),
                offset: self.pos as u64,
                file_len: self.bytes.len() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, field: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// Rejects a count above `limit`, or one whose elements (each at least `min_len` bytes)
    /// could not fit in what remains of the file: no allocation is ever sized by a lie.
    fn check_count(&self, field: &str, count: u64, limit: u64, min_len: u64) -> Result<(), GgufError> {
        if count > limit {
            return Err(GgufError::TooLarge { field: field.to_string(), value: count, limit });
        }
        if count.saturating_mul(min_len) > self.remaining() {
            return Err(GgufError::Truncated {
                field: format!("{field} ({count} entries)"),
                offset: self.pos as u64,
                file_len: self.bytes.len() as u64,
            });
        }
        Ok(())
    }

    fn string(&mut self, field: &str) -> Result<String, GgufError> {
        let len = self.u64(field)?;
        if len > MAX_STRING_LEN {
            return Err(GgufError::TooLarge { field: format!("{field} length"), value: len, limit: MAX_STRING_LEN });
        }
        let s = self.take(len, field)?;
        match std::str::from_utf8(s) {
            Ok(s) => Ok(s.to_string()),
            // Some converters write token texts that are not valid UTF-8; keep them readable
            // rather than reject the whole model.
            Err(_) => Ok(String::from_utf8_lossy(s).into_owned()),
        }
    }

    fn value(&mut self, key: &str, ty: ValueType, depth: usize) -> Result<Value, GgufError> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(key)?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(key)?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            ValueType::U32 => Value::U32(self.u32(key)?),
            ValueType::I32 => Value::I32(self.u32(key)? as i32),
            ValueType::F32 => Value::F32(f32::from_bits(self.u32(key)?)),
            ValueType::Bool => match self.array::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(GgufError::invalid(key, format!("bool byte {b} is neither 0 nor 1"))),
            },
            ValueType::String => Value::String(self.string(key)?),
            ValueType::U64 => Value::U64(self.u64(key)?),
            ValueType::I64 => Value::I64(self.u64(key)? as i64),
            ValueType::F64 => Value::F64(f64::from_bits(self.u64(key)?)),
            ValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::TooLarge {
                        field: format!("{key} array nesting"),
                        value: depth as u64 + 1,
                        limit: MAX_ARRAY_DEPTH as u64,
                    });
                }
                let type_id = self.u32(key)?;
                let elem = ValueType::from_id(type_id)
                    .ok_or_else(|| GgufError::invalid(key, format!("unknown array element type {type_id}")))?;
                let len = self.u64(key)?;
                self.check_count(&format!("{key} array length"), len, MAX_ARRAY_LEN, elem.min_encoded_len())?;
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(key, elem, depth + 1)?);
                }
                Value::Array { elem, items }
            }
        })
    }
}
