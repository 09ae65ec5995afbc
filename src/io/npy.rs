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
    let (shape, dtype, data) = parse_raw(bytes, path)?;
    Ok((shape, dtype.to_f32(data)))
}

/// Reads a `.npy` file of integers (`|u1`, `|i1`, `<i2`, `<i4`, `<i8`, `<u2`, `<u4`, `<u8`,
/// `|b1`) exactly, for class ids and lengths; a float array is an error, since a rounded
/// class id would be a silent mistake.
pub fn read_ints(path: &Path) -> Result<(Vec<usize>, Vec<i64>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_ints(&bytes, path)
}

/// [`read_ints`] on bytes; `path` only names the file in errors.
pub fn parse_ints(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<i64>)> {
    let (shape, dtype, data) = parse_raw(bytes, path)?;
    let values = dtype.to_i64(data).map_err(|why| Error::format(path, why))?;
    Ok((shape, values))
}

/// The shape, element type and data bytes of a `.npy` file, checked against each other.
fn parse_raw<'a>(bytes: &'a [u8], path: &Path) -> Result<(Vec<usize>, Dtype, &'a [u8])> {
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
    Ok((h.shape, dtype, data))
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

impl Dtype {
    /// Converts integer or boolean `data` to i64 values; float data and u64 values past
    /// `i64::MAX` are errors.
    fn to_i64(&self, data: &[u8]) -> Result<Vec<i64>, String> {
        let v: Vec<i64> = match (self.kind, self.size) {
            (b'f', _) => {
                return Err(format!(
                    "dtype is float{} but integers are needed (class ids, labels, lengths); save \
                     them with np.save(path, a.astype(np.int64))",
                    self.size * 8
                ));
            }
            (b'u', 1) => conv(data, |b: [u8; 1]| b[0] as i64),
            (b'i', 1) => conv(data, |b| i8::from_le_bytes(b) as i64),
            (b'b', 1) => conv(data, |b: [u8; 1]| (b[0] != 0) as i64),
            (b'i', 2) => conv(data, |b| i16::from_le_bytes(b) as i64),
            (b'u', 2) => conv(data, |b| u16::from_le_bytes(b) as i64),
            (b'i', 4) => conv(data, |b| i32::from_le_bytes(b) as i64),
            (b'u', 4) => conv(data, |b| u32::from_le_bytes(b) as i64),
            (b'i', 8) => conv(data, i64::from_le_bytes),
            (b'u', 8) => {
                let u: Vec<u64> = data
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect();
                if let Some(big) = u.iter().find(|&&x| x > i64::MAX as u64) {
                    return Err(format!("value {big} is too large for an id or a length"));
                }
                u.iter().map(|&x| x as i64).collect()
            }
            _ => unreachable!("from_descr admits only the types above"),
        };
        Ok(v)
    }
}

/// Converts `data` element by element, `N` bytes each, with `f`.
fn conv<const N: usize, T>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
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
#[path = "npy_tests.rs"]
mod tests;
