//! NumPy `.npy` files of float32 arrays: what `recur predict --input X.npy --output Y.npy`
//! reads and writes, so inputs can come from and outputs go back to Python with `np.load` /
//! `np.save`.
//!
//! Reading accepts format versions 1.0, 2.0 and 3.0, little-endian `<f4` and, converted to
//! f32 as `a.astype(np.float32)` would, `<f8`, `|u1`, `|i1`, `<i2`, `<i4`, `<i8`, `<u2`,
//! `<u4`, `<u8` and `|b1` (f64 values beyond the f32 range become +-inf, large integers are
//! rounded). The header, a Python dict literal, is parsed by a small tokenizer: keys in any
//! order, either quote style, any spacing, trailing commas, `(5,)` and `()` shapes. The data
//! must be exactly as long as the shape says. Writing produces version 1.0 (2.0 if the header
//! does not fit, as NumPy does) byte for byte as `np.save` would, atomically.
//!
//! Deliberately not supported: big-endian data, Fortran-order arrays with two or more
//! dimensions, structured or object dtypes, float16 and complex, pickles, `.npz` archives,
//! and memory mapping (the whole file is read; our arrays are small). Each gives an error
//! saying how to re-save the array.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the start of the data to this many bytes (`numpy.lib.format.ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;
/// Spare header room NumPy leaves so the first axis can grow in place
/// (`numpy.lib.format.GROWTH_AXIS_MAX_DIGITS`); copied so our files match `np.save`'s.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// How much of a bad header to quote in an error.
const QUOTE_MAX: usize = 200;

/// Reads a `.npy` file as float32: `(shape, values in C order)`. A 0-d array has shape `[]`
/// and one value.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

/// Parses the bytes of a `.npy` file; `path` only names the file in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |reason: String| Error::format(path, reason);

    if !bytes.starts_with(MAGIC) {
        let n = bytes.len().min(6);
        return Err(bad(format!(
            "not a .npy file: expected it to start with the magic string \\x93NUMPY, found {:?}",
            String::from_utf8_lossy(&bytes[..n])
        )));
    }
    if bytes.len() < 8 {
        return Err(bad(format!("file ends inside the format version: {} bytes", bytes.len())));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let len_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(bad(format!(
                "unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"
            )));
        }
    };
    let prefix = 8 + len_size;
    if bytes.len() < prefix {
        return Err(bad(format!(
            "file ends inside the header length: expected {prefix} bytes of preamble, found {}",
            bytes.len()
        )));
    }
    let header_len = if len_size == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        // u32 always fits in usize on the 32- and 64-bit targets we build for.
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let rest = &bytes[prefix..];
    if rest.len() < header_len {
        return Err(bad(format!(
            "file ends inside the header: the preamble says the header is {header_len} bytes, \
             but only {} bytes follow",
            rest.len()
        )));
    }
    let (header, data) = rest.split_at(header_len);
    let header =
        std::str::from_utf8(header).map_err(|e| bad(format!("the header is not text (UTF-8/ASCII): {e}")))?;
    let h =
        parse_header(header).map_err(|msg| bad(format!("malformed .npy header {}: {msg}", quote(header))))?;

    let dtype = Dtype::from_descr(&h.descr).map_err(bad)?;
    if h.fortran_order && h.shape.len() > 1 {
        return Err(bad(format!(
            "the array is in Fortran order (fortran_order: True, shape {:?}); only C order is \
             supported: save it with np.save(path, np.ascontiguousarray(a))",
            h.shape
        )));
    }
    let count = h.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let expected = count.and_then(|c| c.checked_mul(dtype.size));
    let (Some(count), Some(expected)) = (count, expected) else {
        return Err(bad(format!("shape {:?} of {} is too large to address", h.shape, h.descr)));
    };
    if data.len() != expected {
        let what = if data.len() < expected { "the file is truncated" } else { "trailing bytes" };
        return Err(bad(format!(
            "expected {expected} bytes of data for shape {:?} of {} ({count} values x {} bytes), \
             found {} ({what})",
            h.shape,
            h.descr,
            dtype.size,
            data.len()
        )));
    }
    Ok((h.shape, dtype.to_f32(data)))
}

/// Writes a float32 array as a `.npy` file (version 1.0, C order), atomically.
/// `data` holds the values in C order and must have `shape.iter().product()` elements.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len()) {
        return Err(Error::Input(format!(
            "writing {}: shape {shape:?} holds {} values but {} were given",
            path.display(),
            count.map_or_else(|| "too many".to_string(), |c| c.to_string()),
            data.len()
        )));
    }
    let mut bytes = header_bytes(shape).map_err(|what| {
        Error::Input(format!("writing {}: {what} does not fit in a .npy header", path.display()))
    })?;
    bytes.reserve(data.len() * 4);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

/// The preamble and header `np.save` writes for a C-order `<f4` array of this shape.
/// Fails only if the header would not fit in 4 GiB, naming what is too big.
fn header_bytes(shape: &[usize]) -> Result<Vec<u8>, String> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_repr = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = dims.first() {
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(first.len())));
    }
    // As numpy.lib.format._wrap_header: pad with 1..=ARRAY_ALIGN spaces and a '\n' so the
    // data starts at a multiple of ARRAY_ALIGN.
    let header_len = |len_size: usize| {
        let unpadded = MAGIC.len() + 2 + len_size + dict.len() + 1;
        dict.len() + (ARRAY_ALIGN - unpadded % ARRAY_ALIGN) + 1
    };
    let (version, len_size) = if header_len(2) <= u16::MAX as usize { (1, 2) } else { (2, 4) };
    // Thousands of dimensions need version 2.0 and its u32 length, as in NumPy.
    let len = header_len(len_size);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version, 0]);
    if len_size == 2 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        let n = u32::try_from(len).map_err(|_| format!("a shape of {} dimensions", shape.len()))?;
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + len - dict.len() - 1, b' ');
    out.push(b'\n');
    Ok(out)
}

/// `s`, cut to a readable length, in Rust debug quotes.
fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((i, _)) => format!("{:?}...", &s[..i]),
        None => format!("{s:?}"),
    }
}

/// An element type we can convert to f32.
struct Dtype {
    kind: u8,
    size: usize,
}

impl Dtype {
    fn from_descr(descr: &str) -> Result<Dtype, String> {
        const SUPPORTED: &str = "<f4, <f8, |u1, |i1, <i2, <i4, <i8, <u2, <u4, <u8, |b1";
        let b = descr.as_bytes();
        let parsed = match b {
            [order, kind @ (b'f' | b'i' | b'u' | b'b'), size] if size.is_ascii_digit() => {
                Some((*order, *kind, (size - b'0') as usize))
            }
            _ => None,
        };
        let Some((order, kind, size)) = parsed else {
            return Err(format!("unsupported dtype {descr:?} (supported: {SUPPORTED})"));
        };
        let known = matches!((kind, size), (b'f', 4 | 8) | (b'i' | b'u', 1 | 2 | 4 | 8) | (b'b', 1));
        if !known {
            return Err(format!(
                "unsupported dtype {descr:?} (supported: {SUPPORTED}); save it with \
                 np.save(path, a.astype(np.float32))"
            ));
        }
        // One-byte types have no byte order: NumPy writes '|', but '<', '>' and '=' mean the same.
        let little = match order {
            b'<' => true,
            b'|' | b'>' | b'=' if size == 1 => true,
            b'=' => cfg!(target_endian = "little"),
            b'>' => false,
            _ => return Err(format!("unsupported byte order in dtype {descr:?} (supported: {SUPPORTED})")),
        };
        if !little {
            return Err(format!(
                "big-endian data ({descr:?}) is not supported; save it with \
                 np.save(path, a.astype('<f4'))"
            ));
        }
        Ok(Dtype { kind, size })
    }

    /// Converts `data` (whose length is a multiple of `size`) to f32 values.
    fn to_f32(&self, data: &[u8]) -> Vec<f32> {
        match (self.kind, self.size) {
            (b'f', 4) => conv(data, f32::from_le_bytes),
            (b'f', 8) => conv(data, |b| f64::from_le_bytes(b) as f32),
            (b'u', 1) => conv(data, |b: [u8; 1]| b[0] as f32),
            (b'i', 1) => conv(data, |b| i8::from_le_bytes(b) as f32),
            (b'b', 1) => conv(data, |b: [u8; 1]| if b[0] != 0 { 1.0 } else { 0.0 }),
            (b'i', 2) => conv(data, |b| i16::from_le_bytes(b) as f32),
            (b'u', 2) => conv(data, |b| u16::from_le_bytes(b) as f32),
            (b'i', 4) => conv(data, |b| i32::from_le_bytes(b) as f32),
            (b'u', 4) => conv(data, |b| u32::from_le_bytes(b) as f32),
            (b'i', 8) => conv(data, |b| i64::from_le_bytes(b) as f32),
            (b'u', 8) => conv(data, |b| u64::from_le_bytes(b) as f32),
            _ => unreachable!("from_descr admits only the types above"),
        }
    }
}

fn conv<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    data.chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

/// The three keys of a `.npy` header.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` followed by padding.
/// Errors are plain messages; the caller adds the file and the header text.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut c = Cursor { s: text.as_bytes(), i: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    c.expect(b'{')?;
    while !c.eat(b'}') {
        let key = c.string().map_err(|e| format!("{e} (a key)"))?;
        let want = match key.as_str() {
            "descr" => "a string like '<f4'",
            "fortran_order" => "True or False",
            "shape" => "a tuple of integers like (2, 3)",
            _ => return Err(format!("unexpected key '{key}' (expected descr, fortran_order, shape)")),
        };
        c.expect(b':')?;
        if key == "descr" && c.eat(b'[') {
            return Err("structured dtypes (descr is a list) are not supported; save a plain array".into());
        }
        c.ws();
        let at = c.i;
        match (key.as_str(), c.value().map_err(|e| format!("value of '{key}': {e}"))?) {
            ("descr", Value::Str(s)) => set(&mut descr, s, &key)?,
            ("fortran_order", Value::Bool(b)) => set(&mut fortran, b, &key)?,
            ("shape", Value::Tuple(t)) => set(&mut shape, t, &key)?,
            _ => return Err(format!("value of '{key}' at byte {at}: expected {want}")),
        }
        if !c.eat(b',') {
            c.expect(b'}')?;
            break;
        }
    }
    c.ws();
    if c.i != c.s.len() {
        return Err(format!("unexpected text after the closing '}}' at byte {}", c.i));
    }
    let missing = |k: &str| format!("missing key '{k}'");
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

fn set<T>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), String> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(format!("key '{key}' appears twice")),
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// Skips whitespace, then consumes `b` if it comes next.
    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.i) == Some(&b);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) { Ok(()) } else { Err(self.found(&format!("'{}'", b as char))) }
    }

    /// "expected X at byte i, found Y".
    fn found(&self, want: &str) -> String {
        match self.s.get(self.i) {
            None => format!("expected {want} at byte {}, found the end of the header", self.i),
            Some(&b) => format!("expected {want} at byte {}, found {:?}", self.i, b as char),
        }
    }

    /// A Python string literal in single or double quotes (no escapes: NumPy never writes any).
    fn string(&mut self) -> Result<String, String> {
        self.ws();
        let q = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(self.found("a quoted string")),
        };
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&b| b == q)
            .ok_or_else(|| format!("string starting at byte {} is not closed", self.i))?;
        self.i = start + len + 1;
        // The header is valid UTF-8 and quotes are ASCII, so this slice is valid UTF-8 too.
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") || rest.starts_with(b"False") {
            let t = rest[0] == b'T';
            self.i += if t { 4 } else { 5 };
            return Ok(Value::Bool(t));
        }
        match rest.first() {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => self.tuple().map(Value::Tuple),
            _ => Err(self.found("a string, True, False or a tuple")),
        }
    }

    /// `()`, `(5,)`, `(2, 3)`, `(2, 3,)`; Python 2's `(2L, 3L)` too.
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        while !self.eat(b')') {
            let start = self.i;
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
            if self.i == start {
                return Err(self.found("a non-negative integer dimension"));
            }
            // Only ASCII digits were consumed, so this is valid UTF-8.
            let digits = String::from_utf8_lossy(&self.s[start..self.i]);
            let d = digits.parse::<usize>().map_err(|_| format!("dimension {digits} is too large"))?;
            dims.push(d);
            if self.s.get(self.i) == Some(&b'L') {
                self.i += 1;
            }
            if !self.eat(b',') {
                self.expect(b')')?;
                break;
            }
        }
        Ok(dims)
    }
}

#[cfg(test)]
mod tests {
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
        let special =
            [f32::NAN, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE / 8.0, f32::MAX, 1.0];
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
        for bytes in [&b""[..], b"\x93NUM", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", b"\x93NUMPZ\x01\x00v\x00"]
        {
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
            let e =
                err(&npy(&format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}"), &[0; 8]));
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
            (
                "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
                "'descr' appears twice",
            ),
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
        let h = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
            1u64 << 40,
            1u64 << 40
        );
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
}
