//! Round trips through the writer and reader, and hostile files: every truncation, every
//! corrupted header field, lying counts and offsets. None may panic.

use rollama_kernels::GgmlType;

use super::*;

/// A small file with every value type, nested arrays and two tensors.
fn sample(alignment: Option<u32>) -> Vec<u8> {
    let mut w = GgufWriter::new();
    if let Some(a) = alignment {
        w.add_u32("general.alignment", a);
    }
    w.add_str("general.architecture", "llama")
        .add("u8", Value::U8(200))
        .add("i8", Value::I8(-5))
        .add("u16", Value::U16(60000))
        .add("i16", Value::I16(-30000))
        .add_u32("u32", 4_000_000_000)
        .add("i32", Value::I32(-2_000_000_000))
        .add_f32("f32", 1.5)
        .add_bool("bool", true)
        .add("u64", Value::U64(u64::MAX))
        .add("i64", Value::I64(i64::MIN))
        .add("f64", Value::F64(-2.25))
        .add_str_array("strings", &["a", "", "ünï"])
        .add_f32_array("floats", &[0.5, -1.0])
        .add(
            "nested",
            Value::Array {
                elem: ValueType::Array,
                items: vec![
                    Value::Array { elem: ValueType::I32, items: vec![Value::I32(1), Value::I32(2)] },
                    Value::Array { elem: ValueType::String, items: vec![Value::String("x".into())] },
                ],
            },
        );
    w.add_f32_tensor("vec", &[3], &[1.0, 2.0, 3.0]).unwrap();
    let q8: Vec<u8> = (0..2 * 34).map(|i| i as u8).collect();
    w.add_tensor("mat", GgmlType::Q8_0, &[32, 2], q8).unwrap();
    w.to_bytes()
}

#[test]
fn round_trip_keeps_every_value_and_tensor() {
    for alignment in [None, Some(64), Some(1)] {
        let g = GgufFile::from_bytes(sample(alignment)).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.alignment, alignment.map_or(DEFAULT_ALIGNMENT, u64::from));
        assert_eq!(g.get("u8"), Some(&Value::U8(200)));
        assert_eq!(g.get("i16"), Some(&Value::I16(-30000)));
        assert_eq!(g.get_u64("u32").unwrap(), Some(4_000_000_000));
        assert_eq!(g.get_i64("i32").unwrap(), Some(-2_000_000_000));
        assert_eq!(g.get_u64("u64").unwrap(), Some(u64::MAX));
        assert_eq!(g.get_i64("i64").unwrap(), Some(i64::MIN));
        assert_eq!(g.get_f32("f64").unwrap(), Some(-2.25));
        assert_eq!(g.get_bool("bool").unwrap(), Some(true));
        assert_eq!(g.require_str("general.architecture").unwrap(), "llama");
        assert_eq!(g.get_str_array("strings").unwrap().unwrap(), vec!["a", "", "ünï"]);
        assert_eq!(g.get_f32_array("floats").unwrap().unwrap(), vec![0.5, -1.0]);
        let nested = g.require_array("nested").unwrap();
        assert_eq!(nested[0].as_array().unwrap()[1], Value::I32(2));
        assert_eq!(nested[1].as_array().unwrap()[0].as_str(), Some("x"));

        let (t, data) = g.tensor("vec").unwrap();
        assert_eq!((t.ty, t.dims.as_slice()), (GgmlType::F32, &[3u64][..]));
        assert_eq!(bytemuck::pod_read_unaligned::<[f32; 3]>(data), [1.0, 2.0, 3.0]);
        let (t, data) = g.tensor("mat").unwrap();
        assert_eq!((t.ty, t.n_rows(), t.row_len()), (GgmlType::Q8_0, 2, 32));
        assert_eq!(data, (0..68).map(|i| i as u8).collect::<Vec<_>>());
        assert_eq!((g.data_offset + t.offset) % g.alignment, 0);
    }
}

#[test]
fn version_2_files_read_like_version_3() {
    // v2 and v3 share the layout (v3 added big-endian files, which are marked elsewhere).
    let mut bytes = sample(None);
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let g = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(g.version, 2);
    assert_eq!(g.get_u64("u32").unwrap(), Some(4_000_000_000));
    assert_eq!(g.tensor("mat").unwrap().1.len(), 68);
}

#[test]
fn typed_getters_name_the_key_on_a_type_mismatch() {
    let g = GgufFile::from_bytes(sample(None)).unwrap();
    let e = g.get_str("u32").unwrap_err().to_string();
    assert!(e.contains("\"u32\"") && e.contains("string"), "{e}");
    assert!(matches!(g.require_u64("absent"), Err(GgufError::MissingKey(k)) if k == "absent"));
    assert!(g.get_u64("i64").is_err(), "a negative value is not a u64");
    assert!(matches!(g.tensor("nope"), Err(GgufError::MissingTensor(_))));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample(Some(64));
    // Trailing padding after the last tensor is optional; every cut before its end must fail.
    let g = GgufFile::from_bytes(bytes.clone()).unwrap();
    let end = g.tensors.iter().map(|t| g.data_offset + t.offset + t.size).max().unwrap() as usize;
    assert!(end < bytes.len());
    for len in 0..end {
        let r = GgufFile::from_bytes(bytes[..len].to_vec());
        assert!(r.is_err(), "a file cut at {len} of {} bytes parsed", bytes.len());
    }
}

#[test]
fn every_corrupted_byte_is_handled_without_panic() {
    // Overwrite each byte of the header, metadata and tensor infos with values that make
    // counts, lengths, types and offsets lie; the parser must answer, never panic.
    let bytes = sample(None);
    let g = GgufFile::from_bytes(bytes.clone()).unwrap();
    let header_len = g.data_offset as usize;
    for i in 0..header_len {
        for v in [0x00, 0x01, 0x07, 0x0d, 0x7f, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] = v;
            let _ = GgufFile::from_bytes(b);
        }
    }
}

/// Byte offset of the first occurrence of `needle`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).expect("needle present")
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn lying_fields_give_typed_errors() {
    let bytes = sample(None);

    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::BadMagic { .. })));

    for version in [1u32, 4, 0xffff_ffff] {
        let mut b = bytes.clone();
        b[4..8].copy_from_slice(&version.to_le_bytes());
        assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::UnsupportedVersion(v)) if v == version));
    }

    // Tensor and metadata counts far beyond what the file could hold.
    let mut b = bytes.clone();
    put_u64(&mut b, 8, u64::MAX);
    assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::TooLarge { .. })));
    let mut b = bytes.clone();
    put_u64(&mut b, 16, 1 << 19);
    assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::Truncated { .. })));

    // A string length of 2^60.
    let mut b = bytes.clone();
    let at = find(&b, b"general.architecture") - 8;
    put_u64(&mut b, at, 1 << 60);
    let e = GgufFile::from_bytes(b).err().unwrap();
    assert!(matches!(e, GgufError::TooLarge { .. }), "{e}");

    // An array claiming 2^40 elements.
    let mut b = bytes.clone();
    let at = find(&b, b"strings") + 7 + 4 + 4;
    put_u64(&mut b, at, 1 << 40);
    assert!(GgufFile::from_bytes(b).is_err());

    // Tensor infos: n_dims, type, offset.
    let name_at = find(&bytes, b"mat\x02\x00\x00\x00");
    let dims_at = name_at + 3;
    let type_at = dims_at + 4 + 16;
    let offset_at = type_at + 4;
    let mut b = bytes.clone();
    b[dims_at..dims_at + 4].copy_from_slice(&5u32.to_le_bytes());
    assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::BadTensor { .. })));
    let mut b = bytes.clone();
    b[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::UnknownTensorType { id: 99, .. })));
    let mut b = bytes.clone();
    put_u64(&mut b, offset_at, 33);
    let e = GgufFile::from_bytes(b).err().unwrap().to_string();
    assert!(e.contains("mat") && e.contains("alignment"), "{e}");
    let mut b = bytes.clone();
    put_u64(&mut b, offset_at, u64::MAX - 31);
    let e = GgufFile::from_bytes(b).err().unwrap().to_string();
    assert!(e.contains("mat") && e.contains("past the end"), "{e}");
    // A row length that is not a multiple of the Q8_0 block.
    let mut b = bytes.clone();
    put_u64(&mut b, dims_at + 4, 31);
    let e = GgufFile::from_bytes(b).err().unwrap().to_string();
    assert!(e.contains("block"), "{e}");
    // Dimensions whose product overflows.
    let mut b = bytes.clone();
    put_u64(&mut b, dims_at + 4 + 8, u64::MAX / 2);
    assert!(matches!(GgufFile::from_bytes(b), Err(GgufError::BadTensor { .. })));
}

#[test]
fn bad_alignment_duplicate_keys_and_names_are_rejected() {
    for a in [0u32, 3, 48] {
        let mut w = GgufWriter::new();
        w.add("general.alignment", Value::U32(a));
        let e = GgufFile::from_bytes(w.to_bytes()).err().unwrap().to_string();
        assert!(e.contains("general.alignment"), "{e}");
    }
    let mut w = GgufWriter::new();
    w.add("general.alignment", Value::U64(32));
    assert!(GgufFile::from_bytes(w.to_bytes()).is_err(), "alignment must be a u32");

    let mut w = GgufWriter::new();
    w.add_u32("k", 1).add_u32("k", 2);
    assert!(matches!(GgufFile::from_bytes(w.to_bytes()), Err(GgufError::DuplicateKey(_))));

    let mut w = GgufWriter::new();
    w.add_f32_tensor("t", &[1], &[1.0]).unwrap().add_f32_tensor("t", &[1], &[2.0]).unwrap();
    assert!(matches!(GgufFile::from_bytes(w.to_bytes()), Err(GgufError::DuplicateTensor(_))));
}

#[test]
fn writer_rejects_data_of_the_wrong_size() {
    let mut w = GgufWriter::new();
    assert!(w.add_tensor("t", GgmlType::Q8_0, &[32], vec![0; 33]).is_err());
    assert!(w.add_tensor("t", GgmlType::Q8_0, &[30], vec![0; 34]).is_err());
    assert!(w.add_tensor("t", GgmlType::F32, &[], vec![]).is_err());
}

#[test]
fn deep_array_nesting_is_capped() {
    let mut v = Value::Array { elem: ValueType::U8, items: vec![Value::U8(1)] };
    for _ in 0..10 {
        v = Value::Array { elem: ValueType::Array, items: vec![v] };
    }
    let mut w = GgufWriter::new();
    w.add("deep", v);
    assert!(matches!(GgufFile::from_bytes(w.to_bytes()), Err(GgufError::TooLarge { .. })));
}

#[test]
fn open_names_a_missing_file() {
    let e = GgufFile::open("/nonexistent/model.gguf").err().unwrap().to_string();
    assert!(e.contains("/nonexistent/model.gguf"), "{e}");
}
