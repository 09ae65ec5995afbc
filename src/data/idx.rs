//! The IDX format of MNIST and Fashion-MNIST (`t10k-images-idx3-ubyte[.gz]`,
//! `t10k-labels-idx1-ubyte[.gz]`), as LeCun's page defines it: the bytes `00 00`, a type
//! code (`08` = unsigned byte), the number of dimensions, each dimension as a big-endian
//! u32, then the elements in C order.
//!
//! Gzip is detected by its magic bytes `1f 8b`, not by the file name, so a decompressed file
//! that kept its `.gz` name (or a compressed one without it) still loads. Sizes from the
//! header are multiplied with overflow checks, and a compressed file is decompressed only as
//! far as the header says, so a lying header cannot make us allocate more than the data
//! actually holds. A compressed file may expand to at most [`GZIP_MAX_RATIO`] times its size
//! (or [`GZIP_MIN_LIMIT`] bytes, if more): MNIST's files expand 2 to 5 times, so more is a
//! gzip bomb (a small file of compressed zeros that would fill the memory), refused with an
//! error before its data is held; a genuine file that expands more loads once decompressed
//! (`gunzip`). Every malformed file (wrong magic, other type code, truncated data, corrupt
//! gzip, trailing bytes, too much expansion) is an [`Error::Format`] naming the file and what
//! was expected.
//!
//! Deliberately not supported: the type codes other than unsigned byte (`09` i8, `0B` i16,
//! `0C` i32, `0D` f32, `0E` f64; MNIST uses none of them), more than 4 dimensions, and
//! streaming (the data sets fit in memory: 47 MB for the 60,000 training images).

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};

/// An IDX array of unsigned bytes: `dims` (e.g. `[10000, 28, 28]`) and the elements in C order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The size of each dimension, as the header gives it.
    pub dims: Vec<usize>,
    /// The values, row-major (unsigned bytes).
    pub data: Vec<u8>,
}

/// The only element type we read: unsigned byte.
const TYPE_U8: u8 = 0x08;
const MAX_DIMS: u8 = 4;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// How many times its own size a gzipped IDX file may expand (MNIST's expand 2 to 5 times).
pub const GZIP_MAX_RATIO: usize = 32;
/// How far any gzipped IDX file may expand, however small.
pub const GZIP_MIN_LIMIT: usize = 8 << 20;

/// Reads an IDX file, gzipped or raw.
pub fn read_idx(path: &Path) -> Result<Idx> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx(&bytes, path)
}

/// Parses the bytes of an IDX file, gzipped or raw; `path` only names the file in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<Idx> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let limit = bytes.len().saturating_mul(GZIP_MAX_RATIO).max(GZIP_MIN_LIMIT);
        parse_stream(&mut MultiGzDecoder::new(bytes), limit, Some(bytes.len()), path)
    } else {
        parse_stream(&mut &bytes[..], bytes.len(), None, path)
    }
}

/// Reads an image file: `(count, rows, cols, pixels)` with `pixels` as `[count, rows, cols]`.
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let idx = read_idx(path)?;
    match idx.dims[..] {
        [n, rows, cols] => Ok((n, rows, cols, idx.data)),
        _ => Err(Error::format(
            path,
            format!(
                "expected an image file with 3 dimensions (count, rows, cols), found {} {:?}{}",
                idx.dims.len(),
                idx.dims,
                if idx.dims.len() == 1 { " (is this a labels file?)" } else { "" }
            ),
        )),
    }
}

/// Reads a label file: one byte per example.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let idx = read_idx(path)?;
    match idx.dims[..] {
        [_] => Ok(idx.data),
        _ => Err(Error::format(
            path,
            format!(
                "expected a label file with 1 dimension (count), found {} {:?}{}",
                idx.dims.len(),
                idx.dims,
                if idx.dims.len() == 3 { " (is this an images file?)" } else { "" }
            ),
        )),
    }
}

/// Reads header and data from `r`, which holds at most `limit` bytes: raw bytes (`gzip` is
/// `None`), or a gzip decoder of a file of `gzip` bytes.
fn parse_stream(r: &mut impl Read, limit: usize, gzip: Option<usize>, path: &Path) -> Result<Idx> {
    let bad = |reason: String| Error::format(path, reason);
    let gzipped = gzip.is_some();

    let magic = read_exactly(r, 4, limit, "the 4-byte magic number", gzipped, path)?;
    if magic[..2] != [0, 0] {
        return Err(bad(format!(
            "not an IDX file: expected the magic number to start with 00 00, found {}",
            hex(&magic)
        )));
    }
    if magic[2] != TYPE_U8 {
        return Err(bad(format!(
            "unsupported IDX element type 0x{:02X} ({}); only 0x08 (unsigned byte) is supported",
            magic[2],
            type_name(magic[2])
        )));
    }
    let ndims = magic[3];
    if !(1..=MAX_DIMS).contains(&ndims) {
        return Err(bad(format!("expected 1 to {MAX_DIMS} dimensions, found {ndims}")));
    }

    let raw = read_exactly(r, 4 * ndims as usize, limit, "the dimension sizes", gzipped, path)?;
    let dims: Vec<usize> = raw
        .chunks_exact(4)
        // u32 always fits in usize on the 32- and 64-bit targets we build for.
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let Some(expected) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(bad(format!("dimensions {dims:?} are too large to address")));
    };
    let what = format!("the data for dimensions {dims:?}");
    // What is left for the data. Data the header promises beyond it is counted (to tell a
    // truncated file from a gzip bomb), not stored.
    let limit = limit.saturating_sub(4 + raw.len());
    if let Some(compressed) = gzip
        && expected > limit
    {
        let held = count(r, limit as u64 + 1, &format!("inside {what}"), path)?;
        if held <= limit as u64 {
            return Err(bad(format!(
                "the decompressed data ends inside {what}: expected {expected} bytes, found {held}"
            )));
        }
        return Err(bad(format!(
            "the gzip data expands past {} bytes, more than {GZIP_MAX_RATIO} times the {compressed}-byte \
             file, for {what} ({expected} bytes); refused as a likely gzip bomb (if the file is \
             genuine, decompress it with gunzip and give the raw file)",
            limit + 4 + raw.len()
        )));
    }

    let data = read_exactly(r, expected, limit, &what, gzipped, path)?;
    // Count (without storing) whatever follows the data, up to the expansion limit.
    let cap = limit.saturating_sub(expected) as u64 + 1;
    let extra = count(r, cap, &format!("after all {expected} bytes of data (in the trailer)"), path)?;
    if extra == cap {
        return Err(bad(format!(
            "expected {expected} data bytes for dimensions {dims:?}, found at least {extra} trailing bytes after them"
        )));
    }
    if extra > 0 {
        return Err(bad(format!(
            "expected {expected} data bytes for dimensions {dims:?}, found {} ({extra} trailing bytes)",
            (expected as u64).saturating_add(extra)
        )));
    }
    Ok(Idx { dims, data })
}

/// Reads exactly `n` bytes of the at most `most` that `r` holds, or fails saying what was
/// being read and how much was there.
fn read_exactly(
    r: &mut impl Read,
    n: usize,
    most: usize,
    what: &str,
    gzipped: bool,
    path: &Path,
) -> Result<Vec<u8>> {
    // `take` caps the read at what the header promises, and the buffer at what the stream
    // can hold, so a lying header allocates no more than the file's (bounded) contents.
    let mut buf = Vec::with_capacity(n.min(most));
    let read = r.by_ref().take(n as u64).read_to_end(&mut buf);
    match read {
        Ok(_) if buf.len() == n => Ok(buf),
        Ok(_) => Err(Error::format(
            path,
            format!(
                "{} ends inside {what}: expected {n} bytes, found {}",
                if gzipped { "the decompressed data" } else { "the file" },
                buf.len()
            ),
        )),
        Err(e) => Err(Error::format(
            path,
            format!("{} after {} bytes of {what} (expected {n})", corrupt_reason(&e), buf.len()),
        )),
    }
}

/// Counts, without storing them, the bytes `r` holds, up to `cap`; `at` says where in the
/// stream, for a corrupt stream's error.
fn count(r: &mut impl Read, cap: u64, at: &str, path: &Path) -> Result<u64> {
    std::io::copy(&mut r.by_ref().take(cap), &mut std::io::sink())
        .map_err(|e| Error::format(path, format!("{} {at}", corrupt_reason(&e))))
}

/// Reading from memory fails only inside the gzip decoder.
fn corrupt_reason(e: &std::io::Error) -> String {
    format!("the gzip data is corrupt or truncated ({e})")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "short, 2 bytes",
        0x0C => "int, 4 bytes",
        0x0D => "float, 4 bytes",
        0x0E => "double, 8 bytes",
        _ => "not an IDX type code",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn p() -> &'static Path {
        Path::new("t.idx")
    }

    /// An IDX file of unsigned bytes with these dimensions and data.
    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn err(bytes: &[u8]) -> String {
        match parse_idx(bytes, p()) {
            Ok(i) => panic!("expected an error, parsed dims {:?}", i.dims),
            Err(e) => {
                assert!(matches!(e, Error::Format { .. }), "{e:?}");
                let s = e.to_string();
                assert!(s.starts_with("t.idx: "), "error does not name the file: {s}");
                s
            }
        }
    }

    #[test]
    fn parses_raw_and_gzipped() {
        let data: Vec<u8> = (0..24).collect();
        let raw = idx(&[2, 3, 4], &data);
        let want = Idx { dims: vec![2, 3, 4], data };
        assert_eq!(parse_idx(&raw, p()).unwrap(), want);
        assert_eq!(parse_idx(&gz(&raw), p()).unwrap(), want);
        // Two concatenated gzip members (what `cat a.gz b.gz` makes) are one stream.
        let mut two = gz(&raw[..10]);
        two.extend(gz(&raw[10..]));
        assert_eq!(parse_idx(&two, p()).unwrap(), want);
    }

    #[test]
    fn one_to_four_dims_and_empty_arrays() {
        assert_eq!(parse_idx(&idx(&[3], &[7, 2, 1]), p()).unwrap().data, [7, 2, 1]);
        assert_eq!(parse_idx(&idx(&[1, 1, 1, 2], &[5, 6]), p()).unwrap().dims, [1, 1, 1, 2]);
        assert_eq!(
            parse_idx(&idx(&[0, 28, 28], &[]), p()).unwrap(),
            Idx { dims: vec![0, 28, 28], data: vec![] }
        );
    }

    #[test]
    fn bad_magic() {
        let e = err(b"\x00\x01\x08\x01\x00\x00\x00\x00");
        assert!(e.contains("not an IDX file") && e.contains("00 01 08 01"), "{e}");
        // A .npy file given by mistake.
        assert!(err(b"\x93NUMPY\x01\x00").contains("found 93 4e 55 4d"));
    }

    #[test]
    fn other_type_codes_are_named() {
        for (code, name) in
            [(0x09, "signed byte"), (0x0D, "float, 4 bytes"), (0x0E, "double"), (0x42, "not an IDX")]
        {
            let mut f = idx(&[1], &[0]);
            f[2] = code;
            let e = err(&f);
            assert!(e.contains(&format!("type 0x{code:02X} ({name}")) && e.contains("only 0x08"), "{e}");
        }
    }

    #[test]
    fn dimension_count_out_of_range() {
        assert!(err(&[0, 0, 8, 0]).contains("expected 1 to 4 dimensions, found 0"));
        assert!(err(&idx(&[1; 5], &[0])).contains("expected 1 to 4 dimensions, found 5"));
    }

    #[test]
    fn short_header() {
        for n in 0..4 {
            let e = err(&[0, 0, 8, 3][..n]);
            assert!(e.contains(&format!("magic number: expected 4 bytes, found {n}")), "{e}");
        }
        let e = err(&idx(&[10000, 28, 28], &[])[..9]);
        assert!(e.contains("the file ends inside the dimension sizes: expected 12 bytes, found 5"), "{e}");
    }

    #[test]
    fn truncated_or_long_data_names_both_sizes() {
        let f = idx(&[2, 3], &[1, 2, 3, 4, 5]);
        let e = err(&f);
        assert!(
            e.contains("the file ends inside the data for dimensions [2, 3]: expected 6 bytes, found 5"),
            "{e}"
        );
        let e = err(&gz(&f));
        assert!(
            e.contains("decompressed data ends inside") && e.contains("expected 6 bytes, found 5"),
            "{e}"
        );
        let f = idx(&[2, 3], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let e = err(&f);
        assert!(e.contains("expected 6 data bytes") && e.contains("found 8 (2 trailing bytes)"), "{e}");
        assert!(err(&gz(&f)).contains("found 8 (2 trailing bytes)"));
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_panic() {
        let data: Vec<u8> = (0..=255).cycle().take(5000).collect();
        let z = gz(&idx(&[5000], &data));
        // Cut in the gzip header, inside the deflate stream, and in the 8-byte CRC trailer.
        for cut in [1, 5, 12, z.len() / 2, z.len() - 5, z.len() - 1] {
            let e = err(&z[..cut]);
            assert!(e.contains("gzip") || e.contains("ends inside"), "cut at {cut}: {e}");
        }
        let mut flipped = z.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        let _ = parse_idx(&flipped, p()); // Ok or Err, never a panic.
        let mut bad_crc = z;
        let n = bad_crc.len();
        bad_crc[n - 6] ^= 1;
        assert!(err(&bad_crc).contains("gzip data is corrupt"));
    }

    #[test]
    fn huge_dimensions_neither_overflow_nor_allocate() {
        let f = idx(&[u32::MAX, u32::MAX, u32::MAX, u32::MAX], &[1, 2]);
        if usize::BITS == 64 {
            assert!(err(&f).contains("too large to address"));
        }
        // Plausible but absent: 4 GB promised, 2 bytes present; reported without allocating it.
        let e = err(&gz(&idx(&[u32::MAX], &[1, 2])));
        assert!(e.contains("expected 4294967295 bytes, found 2"), "{e}");
    }

    #[test]
    fn images_and_labels_check_their_rank() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images.gz");
        let labels = dir.path().join("labels");
        std::fs::write(&images, gz(&idx(&[2, 2, 3], &[9; 12]))).unwrap();
        std::fs::write(&labels, idx(&[2], &[4, 1])).unwrap();
        assert_eq!(read_images(&images).unwrap(), (2, 2, 3, vec![9; 12]));
        assert_eq!(read_labels(&labels).unwrap(), [4, 1]);
        let e = read_images(&labels).unwrap_err().to_string();
        assert!(
            e.contains("labels") && e.contains("3 dimensions") && e.contains("is this a labels file?"),
            "{e}"
        );
        let e = read_labels(&images).unwrap_err().to_string();
        assert!(e.contains("images.gz") && e.contains("found 3 [2, 2, 3] (is this an images file?)"), "{e}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope-idx1-ubyte.gz");
        let e = read_idx(&path).unwrap_err();
        assert!(matches!(&e, Error::Io { path: q, .. } if q == &path), "{e:?}");
    }

    #[test]
    fn prefixes_never_panic() {
        let raw = idx(&[3, 2], &[1, 2, 3, 4, 5, 6]);
        let z = gz(&raw);
        for bytes in [&raw, &z] {
            for n in 0..bytes.len() {
                assert!(parse_idx(&bytes[..n], p()).is_err(), "prefix {n} parsed");
            }
        }
    }

    /// The real MNIST test set, if it is in `data/mnist`; skipped otherwise.
    #[test]
    fn reads_the_full_mnist_t10k() {
        let dir = &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        let (labels, images) = (dir.join("t10k-labels-idx1-ubyte.gz"), dir.join("t10k-images-idx3-ubyte.gz"));
        if !labels.exists() || !images.exists() {
            return;
        }
        let l = read_labels(&labels).unwrap();
        assert_eq!((l.len(), &l[..3]), (10_000, &[7, 2, 1][..]));
        assert!(l.iter().all(|&c| c < 10));
        let (n, rows, cols, px) = read_images(&images).unwrap();
        assert_eq!((n, rows, cols, px.len()), (10_000, 28, 28, 10_000 * 784));
        // Sum of the first image's pixels (a 7), from Python's gzip module.
        assert_eq!(px[..784].iter().map(|&v| v as u32).sum::<u32>(), 18454);
    }

    /// `tests/fixtures/mnist_small` holds the first 200 examples of t10k (made by
    /// `tools/cut_mnist.py`); they load, and match the full set when it is present.
    #[test]
    fn small_fixture_is_a_prefix_of_t10k() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist_small");
        let l = read_labels(&fx.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let (n, rows, cols, px) = read_images(&fx.join("t10k-images-idx3-ubyte.gz")).unwrap();
        assert_eq!((l.len(), n, rows, cols, px.len()), (200, 200, 28, 28, 200 * 784));
        assert_eq!(l[..3], [7, 2, 1]);
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        if full.join("t10k-labels-idx1-ubyte.gz").exists() {
            assert_eq!(l, read_labels(&full.join("t10k-labels-idx1-ubyte.gz")).unwrap()[..200]);
            assert_eq!(px, read_images(&full.join("t10k-images-idx3-ubyte.gz")).unwrap().3[..200 * 784]);
        }
    }
}
