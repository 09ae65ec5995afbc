//! Tests of the .npy reader and writer: files written by NumPy, round trips, and one test per
//! malformed input.

use super::*;

// Written by NumPy 2.4.6 with `np.save` (the `F4_V2`/`F4_V3` ones with
// `np.lib.format.write_array(f, a, version=(2, 0))` / `(3, 0)`):
//   F4_2X3     np.array([[1, 2, 3], [4, 5, 6]], dtype='<f4') * 0.5
//   F8_4       np.array([1.5, -2.25, 3e10, 0.1], dtype='<f8')
//   F4_SCALAR  np.array(3.25, dtype='<f4')
//   F4_FORTRAN np.asfortranarray(np.array([[1, 2], [3, 4]], dtype='<f4'))
//   U1_3       np.array([0, 128, 255], dtype='u1')
//   I4_2X2     np.array([[-1, 2], [3, -4]], dtype='<i4')
//   I8_2       np.array([7, -9], dtype='<i8')
//   F4_BE_2    np.array([1, 2], dtype='>f4')
//   F4_V2/V3   np.array([1, 2], dtype='<f4')
// printed as byte strings split with `\` continuations (a leading space as `\x20`).
const F4_2X3: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)\
        , }                                                          \n\x00\x00\x00?\x00\
        \x00\x80?\x00\x00\xc0?\x00\x00\x00@\x00\x00 @\x00\x00@@";
const F8_4: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (4,), \
        }                                                            \n\x00\x00\x00\x00\
        \x00\x00\xf8?\x00\x00\x00\x00\x00\x00\x02\xc0\x00\x00\x00\xb0\x8e\xf0\x1bB\x9a\
        \x99\x99\x99\x99\x99\xb9?";
const F4_SCALAR: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), } \
        \x20                                                            \n\x00\x00P@";
const F4_FORTRAN: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2),\
        \x20}                                                           \n\x00\x00\x80\
        ?\x00\x00@@\x00\x00\x00@\x00\x00\x80@";
const U1_3: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (3,), \
        }                                                            \n\x00\x80\xff";
const I4_2X2: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2)\
        , }                                                          \n\xff\xff\xff\xff\
        \x02\x00\x00\x00\x03\x00\x00\x00\xfc\xff\xff\xff";
const I8_2: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (2,), \
        }                                                            \n\x07\x00\x00\x00\
        \x00\x00\x00\x00\xf7\xff\xff\xff\xff\xff\xff\xff";
const F4_BE_2: &[u8] = b"\
        \x93NUMPY\x01\x00v\x00{'descr': '>f4', 'fortran_order': False, 'shape': (2,), \
        }                                                            \n?\x80\x00\x00@\x00\
        \x00\x00";
const F4_V2: &[u8] = b"\
        \x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape'\
        : (2,), }                                                          \n\x00\x00\x80\
        ?\x00\x00\x00@";
const F4_V3: &[u8] = b"\
        \x93NUMPY\x03\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape'\
        : (2,), }                                                          \n\x00\x00\x80\
        ?\x00\x00\x00@";

fn p() -> &'static Path {
    Path::new("x.npy")
}

fn err(bytes: &[u8]) -> String {
    match parse(bytes, p()) {
        Ok((shape, _)) => panic!("expected an error, parsed shape {shape:?}"),
        Err(e) => {
            assert!(matches!(e, Error::Format { .. }), "{e:?}");
            let s = e.to_string();
            assert!(s.starts_with("x.npy: "), "error does not name the file: {s}");
            s
        }
    }
}

/// A version 1.0 file with this header text (padded as NumPy does) and data.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f4_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn fixture_lengths_survived_the_literals() {
    let lens = [F4_2X3.len(), F8_4.len(), F4_SCALAR.len(), F4_FORTRAN.len(), U1_3.len()];
    assert_eq!(lens, [152, 160, 132, 144, 131]);
    assert_eq!(
        [I4_2X2.len(), I8_2.len(), F4_BE_2.len(), F4_V2.len(), F4_V3.len()],
        [144, 144, 136, 136, 136]
    );
}

#[test]
fn reads_numpy_files() {
    assert_eq!(parse(F4_2X3, p()).unwrap(), (vec![2, 3], vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0]));
    assert_eq!(parse(F8_4, p()).unwrap(), (vec![4], vec![1.5, -2.25, 3e10, 0.1]));
    assert_eq!(parse(F4_SCALAR, p()).unwrap(), (vec![], vec![3.25]));
    assert_eq!(parse(U1_3, p()).unwrap(), (vec![3], vec![0.0, 128.0, 255.0]));
    assert_eq!(parse(I4_2X2, p()).unwrap(), (vec![2, 2], vec![-1.0, 2.0, 3.0, -4.0]));
    assert_eq!(parse(I8_2, p()).unwrap(), (vec![2], vec![7.0, -9.0]));
    assert_eq!(parse(F4_V2, p()).unwrap(), (vec![2], vec![1.0, 2.0]));
    assert_eq!(parse(F4_V3, p()).unwrap(), (vec![2], vec![1.0, 2.0]));
}

#[test]
fn fortran_order_is_refused_with_a_fix() {
    let e = err(F4_FORTRAN);
    assert!(e.contains("Fortran order") && e.contains("np.ascontiguousarray"), "{e}");
    // With at most one dimension the two orders are the same bytes, so it is accepted.
    let one_d = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", &f4_bytes(&[1.0, 2.0]));
    assert_eq!(parse(&one_d, p()).unwrap(), (vec![2], vec![1.0, 2.0]));
}

#[test]
fn big_endian_is_refused_with_a_fix() {
    let e = err(F4_BE_2);
    assert!(e.contains("big-endian") && e.contains("astype('<f4')"), "{e}");
    // One-byte types have no byte order.
    let u1 = npy("{'descr': '>u1', 'fortran_order': False, 'shape': (1,)}", &[9]);
    assert_eq!(parse(&u1, p()).unwrap(), (vec![1], vec![9.0]));
}

#[test]
fn writes_what_numpy_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    write_f32(&path, &[2, 3], &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0]).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), F4_2X3);
    write_f32(&path, &[], &[3.25]).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), F4_SCALAR);
    // F4_BE_2's header with '<' for '>', and little-endian data.
    write_f32(&path, &[2], &[1.0, 2.0]).unwrap();
    let mut want = F4_BE_2[..128].to_vec();
    let at = want.iter().position(|&b| b == b'>').unwrap();
    want[at] = b'<';
    want.extend(f4_bytes(&[1.0, 2.0]));
    assert_eq!(std::fs::read(&path).unwrap(), want);
}

#[test]
fn round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    let special = [f32::NAN, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE / 8.0, f32::MAX, 1.0];
    let shapes: [&[usize]; 6] = [&[], &[0], &[7], &[0, 3], &[1, 7, 1], &[1, 1, 1, 1, 7]];
    for shape in shapes {
        let n: usize = shape.iter().product();
        let data = &special[..n];
        write_f32(&path, shape, data).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(header_len + 10, bytes.len() - 4 * n, "header length field, {shape:?}");
        assert_eq!((bytes.len() - 4 * n) % 64, 0, "data not 64-byte aligned for {shape:?}");
        assert_eq!(bytes[bytes.len() - 4 * n - 1], b'\n');
        let (s, d) = read_f32(&path).unwrap();
        assert_eq!(s, shape);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&d), bits(data), "{shape:?}");
    }
}

#[test]
fn header_alignment_for_many_shapes() {
    for ndim in 0..40 {
        for d in [1usize, 9, 10, 99_999, usize::MAX] {
            let shape = vec![d; ndim];
            let h = header_bytes(&shape).unwrap();
            assert_eq!(h.len() % 64, 0, "{shape:?}");
            assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize + 10, h.len());
            let text = std::str::from_utf8(&h[10..]).unwrap();
            assert_eq!(parse_header(text).unwrap().shape, shape);
        }
    }
}

#[test]
fn huge_header_switches_to_version_2() {
    let shape = vec![1usize; 30_000];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.npy");
    write_f32(&path, &shape, &[4.5]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[6..8], &[2, 0]);
    assert_eq!((bytes.len() - 4) % 64, 0);
    assert_eq!(read_f32(&path).unwrap(), (shape, vec![4.5]));
}

#[test]
fn write_refuses_wrong_value_count_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.npy");
    let e = write_f32(&path, &[2, 3], &[1.0; 5]).unwrap_err();
    assert!(matches!(e, Error::Input(_)), "{e:?}");
    let s = e.to_string();
    assert!(s.contains("w.npy") && s.contains("holds 6 values but 5 were given"), "{s}");
    let e = write_f32(&path, &[usize::MAX, 2], &[]).unwrap_err();
    assert!(e.to_string().contains("too many"), "{e}");
    assert!(!path.exists());
}

#[test]
fn truncated_or_padded_data_names_both_sizes() {
    let e = err(&F4_2X3[..F4_2X3.len() - 1]);
    assert!(e.contains("expected 24 bytes") && e.contains("found 23") && e.contains("truncated"), "{e}");
    let e = err(&F4_2X3[..128]);
    assert!(e.contains("expected 24 bytes") && e.contains("found 0"), "{e}");
    let mut long = F4_2X3.to_vec();
    long.push(0);
    let e = err(&long);
    assert!(e.contains("found 25") && e.contains("trailing"), "{e}");
}

#[test]
fn truncated_header() {
    let e = err(&F4_2X3[..60]);
    assert!(e.contains("header is 118 bytes") && e.contains("only 50"), "{e}");
    let e = err(&F4_V2[..10]);
    assert!(e.contains("expected 12 bytes of preamble, found 10"), "{e}");
}

#[test]
fn bad_magic_and_version() {
    for bytes in [&b""[..], b"\x93NUM", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", b"\x93NUMPZ\x01\x00v\x00"] {
        let e = err(bytes);
        assert!(e.contains("not a .npy file") && e.contains("\\x93NUMPY"), "{e}");
    }
    assert!(err(b"\x93NUMPY\x01").contains("ends inside the format version: 7 bytes"));
    let mut v4 = F4_V2.to_vec();
    v4[6] = 4;
    let e = err(&v4);
    assert!(e.contains("version 4.0") && e.contains("expected 1.0, 2.0 or 3.0"), "{e}");
}

#[test]
fn unsupported_dtypes() {
    for (descr, want) in [
        ("'<c8'", "unsupported dtype \"<c8\""),
        ("'<f2'", "unsupported dtype \"<f2\""),
        ("'<U3'", "unsupported dtype \"<U3\""),
        ("'|O'", "unsupported dtype \"|O\""),
        ("'<f16'", "unsupported dtype \"<f16\""),
        ("'|f4'", "byte order"),
        ("'>f8'", "big-endian"),
        ("[('a', '<f4'), ('b', '<i4')]", "structured dtypes"),
    ] {
        let e = err(&npy(&format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}"), &[0; 8]));
        assert!(e.contains(want), "{descr}: {e}");
    }
}

#[test]
fn more_integer_and_bool_dtypes() {
    let cases: [(&str, &[u8], f32); 6] = [
        ("|i1", &[0xff], -1.0),
        ("<i2", &[0x00, 0x80], -32768.0),
        ("<u2", &[0xff, 0xff], 65535.0),
        ("<u4", &[0, 0, 0, 0x80], 2147483648.0),
        ("<u8", &[1, 0, 0, 0, 0, 0, 0, 0], 1.0),
        ("|b1", &[2], 1.0),
    ];
    for (descr, data, want) in cases {
        let f = npy(&format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}"), data);
        assert_eq!(parse(&f, p()).unwrap(), (vec![1], vec![want]), "{descr}");
    }
}

#[test]
fn header_is_parsed_flexibly() {
    let d = f4_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    for h in [
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3)}",
        "{ 'descr' : '<f4' ,\t'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
        "{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2, 3)}",
    ] {
        let (shape, data) = parse(&npy(h, &d), p()).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert_eq!(shape, [2, 3], "{h}");
        assert_eq!(data.len(), 6);
    }
    let one = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,)}", &[0; 20]);
    assert_eq!(parse(&one, p()).unwrap().0, [5]);
    let scalar = npy("{'descr': '<f4', 'fortran_order': False, 'shape': ( )}", &[0; 4]);
    assert_eq!(parse(&scalar, p()).unwrap().0, Vec::<usize>::new());
}

#[test]
fn header_garbage() {
    for (h, want) in [
        ("", "expected '{' at byte 54, found the end of the header"),
        ("not a dict", "expected '{' at byte 0"),
        ("{'descr': '<f4', 'shape': (1,)}", "missing key 'fortran_order'"),
        ("{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "unexpected key 'x'"),
        ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "'descr' appears twice"),
        ("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected '}' at byte 17, found 'f'"),
        ("{'descr: '<f4'}", "unexpected key 'descr: '"),
        ("{'descr' '<f4'}", "expected ':' at byte 9, found '\\''"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", "expected ')'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "non-negative integer"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", "non-negative integer"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", "too large"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "expected a string, True, False"),
        ("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", "expected True or False"),
        ("{'descr': 4, 'fortran_order': False, 'shape': (1,)}", "expected a string, True"),
        (
            "{'descr': (1,), 'fortran_order': False, 'shape': (1,)}",
            "value of 'descr' at byte 10: expected a string like",
        ),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "expected a string, True"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "unexpected text after"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected '}'"),
        ("{'descr': '<f4'", "expected '}' at byte 54, found the end of the header"),
    ] {
        let e = err(&npy(h, &[0; 4]));
        assert!(e.contains("malformed .npy header") && e.contains(want), "{h}: {e}");
    }
    let mut bad_utf8 = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", &[0; 4]);
    bad_utf8[20] = 0xff;
    assert!(err(&bad_utf8).contains("not text"));
}

#[test]
fn long_garbage_header_is_quoted_briefly() {
    let e = err(&npy(&"z".repeat(5000), &[]));
    assert!(e.len() < 400 && e.contains("..."), "{e}");
}

#[test]
fn oversized_shape_does_not_allocate_or_overflow() {
    let h =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}", 1u64 << 40, 1u64 << 40);
    assert!(err(&npy(&h, &[0; 8])).contains("too large to address"));
    let h = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}", usize::MAX / 4);
    assert!(err(&npy(&h, &[0; 8])).contains("too large to address"));
    let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }";
    assert!(err(&npy(h, &[0; 8])).contains("expected 4000000000 bytes"));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.npy");
    let e = read_f32(&path).unwrap_err();
    assert!(matches!(&e, Error::Io { path: q, .. } if q == &path), "{e:?}");
}

/// A poor man's fuzz: every prefix and every single-byte change of a valid file must
/// give Ok or Err, never a panic.
#[test]
fn prefixes_and_byte_flips_never_panic() {
    for n in 0..F4_2X3.len() {
        assert!(parse(&F4_2X3[..n], p()).is_err(), "prefix {n} parsed");
    }
    let mut b = F4_2X3.to_vec();
    for i in 0..b.len() {
        for x in [0x00, 0x01, 0x20, b'(', b')', b',', b'\'', b'}', 0xff] {
            let old = b[i];
            b[i] = x;
            let _ = parse(&b, p());
            b[i] = old;
        }
    }
}

#[test]
fn reads_integer_files_exactly() {
    assert_eq!(parse_ints(U1_3, p()).unwrap(), (vec![3], vec![0, 128, 255]));
    assert_eq!(parse_ints(I4_2X2, p()).unwrap(), (vec![2, 2], vec![-1, 2, 3, -4]));
    assert_eq!(parse_ints(I8_2, p()).unwrap(), (vec![2], vec![7, -9]));
    // 2^53 + 1 survives, which an f32 (or f64) round trip would not.
    let big = (1i64 << 53) + 1;
    let b = npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", &big.to_le_bytes());
    assert_eq!(parse_ints(&b, p()).unwrap().1, [big]);
    let b = npy("{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", &[1, 0, 255, 255]);
    assert_eq!(parse_ints(&b, p()).unwrap().1, [1, 65535]);
    let b = npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", &[0, 7]);
    assert_eq!(parse_ints(&b, p()).unwrap().1, [0, 1]);
}

#[test]
fn integer_reads_refuse_floats_and_huge_values() {
    let e = parse_ints(F8_4, p()).unwrap_err().to_string();
    assert!(
        e.starts_with("x.npy: dtype is float64 but integers are needed") && e.contains("astype(np.int64)"),
        "{e}"
    );
    let e = parse_ints(F4_2X3, p()).unwrap_err().to_string();
    assert!(e.contains("dtype is float32"), "{e}");
    let b = npy("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", &u64::MAX.to_le_bytes());
    let e = parse_ints(&b, p()).unwrap_err().to_string();
    assert!(e.contains("value 18446744073709551615 is too large"), "{e}");
    // The checks shared with float reads still apply.
    let e = parse_ints(&I8_2[..I8_2.len() - 1], p()).unwrap_err().to_string();
    assert!(e.contains("the file is truncated"), "{e}");
}
