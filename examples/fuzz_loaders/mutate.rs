//! Mutations: a seed from the corpus, changed one to eight times, each time either at the byte
//! level (bit flips, interesting bytes and words, chunks inserted, deleted, duplicated, the
//! end cut off, two seeds spliced, a token of the format inserted) or knowing the format
//! (a safetensors header's shapes, dtypes, offsets and metadata; a `.npy` header's shape and
//! descr; IDX dimensions; the gzip layer; lines and fields of text), so that most inputs get
//! past the first check of a reader.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::targets::Format;

/// Bytes that sit at edges: 0, all ones, the signed limits.
const BYTES: [u8; 6] = [0, 0xff, 0x7f, 0x80, 1, 0xfe];
/// Words that sit at edges, written as u16, u32 or u64 (cut to the width).
const WORDS: [u64; 10] = [0, 1, 1 << 31, (1 << 32) - 1, 1 << 62, u64::MAX, 1 << 16, 0xffff, 1 << 63, 1 << 32];
/// Numbers a JSON header might hold.
const NUMBERS: [&str; 20] = [
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "1048576",
    "1048577",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "4611686018427387904",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e300",
    "-1e300",
    "0.5",
    "1.0",
];
/// Strings a JSON header might hold.
const STRINGS: [&str; 24] = [
    "lstm",
    "gru",
    "rnn",
    "last",
    "step",
    "ce",
    "bce",
    "mse",
    "cross_entropy",
    "",
    "text",
    "bitcount",
    "mnist",
    "classify",
    "regress",
    "label",
    "forecast",
    "addition",
    "<unk>",
    "F32",
    "recur",
    "1",
    "2",
    "\u{0}",
];
/// safetensors dtypes, known and not.
const DTYPES: [&str; 12] =
    ["F32", "F64", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F4", "F6_E2M3", "C64", "XX"];
/// Tensor names recur looks for, or might trip over.
const NAMES: [&str; 16] = [
    "rnn.weight_ih_l0",
    "rnn.weight_hh_l0",
    "rnn.bias_ih_l0",
    "rnn.weight_ih_l1",
    "rnn.weight_hh_l1",
    "rnn.weight_ih_l0_reverse",
    "rnn.weight_hh_l0_reverse",
    "lstm.weight_ih_l0",
    "rnn.weight_hr_l0",
    "head.weight",
    "head.bias",
    "fc.weight",
    "embedding.weight",
    "emb.weight",
    "init.h0_l0",
    "weight_ih_l0",
];
/// `.npy` descrs, supported and not.
const DESCRS: [&str; 22] = [
    "<f4", "<f8", "|u1", "|i1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "|b1", ">f4", "=f4", ">u1", "<f2",
    "<c8", "|O", "<U10", "|S3", "<f9", "f4", "",
];
/// `.npy` dimensions, as text.
const DIMS: [&str; 16] = [
    "0",
    "1",
    "2",
    "3",
    "5",
    "64",
    "2147483648",
    "4294967295",
    "4294967296",
    "4611686018427387904",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "3L",
    "-1",
    " 3 ",
];
/// IDX dimensions.
const IDX_DIMS: [u32; 14] =
    [0, 1, 2, 3, 28, 255, 256, 10000, 60000, 1 << 16, 1 << 24, 1 << 31, u32::MAX, u32::MAX - 1];

const CSV_TOKENS: &[&[u8]] = &[
    b",",
    b"\t",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b";",
    b" ",
    b";;",
    b"label",
    b"sequence",
    b"target",
    b"t",
    b"time",
    b"value",
    b"1e308",
    b"1e309",
    b"-1e309",
    b"NaN",
    b"inf",
    b"-0",
    b"0x10",
    b"1_000",
    "\u{feff}".as_bytes(),
    b"\xff",
    b"\xc3",
    "\u{e9}".as_bytes(),
    "\u{2028}".as_bytes(),
    b"\0",
    b"A",
    b"0.1 2;0.5 3",
    b"0.1;",
    b";0.1",
    b"  ",
    b"HH",
    b"B-PER I-PER",
    b"1e-320",
];
const JSON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"x\"",
    b"\"y\"",
    b":",
    b",",
    b"null",
    b"true",
    b"1e308",
    b"1e999",
    b"-0",
    b"\"\"",
    b"[[]]",
    b"[[1,2],[3]]",
    b"{\"x\":[],\"y\":1}",
    b"\"\\ud800\"",
    b"\\u0000",
    b"\n",
    b"\r\n",
    "\u{feff}".as_bytes(),
    b"[1]",
    b"\"A\"",
    b"\"epoch\"",
    b"\"train_loss\"",
    b"1e-320",
    b"\xe6\x97",
];
const TEXT_TOKENS: &[&[u8]] = &[
    b"'",
    b"''",
    b"don't",
    b" ",
    b"\n",
    b"\t",
    b"\r\n",
    "\u{301}".as_bytes(),
    "\u{feff}".as_bytes(),
    "\u{200b}".as_bytes(),
    "\u{65e5}\u{672c}".as_bytes(),
    "\u{1f980}".as_bytes(),
    "\u{1c5}".as_bytes(),
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xe6\x97",
    b"\xf4\x90\x80\x80",
    b"a'b",
    b"1,000",
    b"<unk>",
];
const NPY_TOKENS: &[&[u8]] = &[
    b"'descr'",
    b"'shape'",
    b"'fortran_order'",
    b"(",
    b")",
    b",",
    b"L",
    b"True",
    b"False",
    b"<f4",
    b"{",
    b"}",
    b"\n",
    b" ",
    b"\"",
    b"'",
];
const SAFETENSORS_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"\"dtype\"",
    b"\"shape\"",
    b"\"data_offsets\"",
    b"\"F32\"",
    b"\"__metadata__\"",
    b"[",
    b"]",
    b"0",
    b",",
    b"\"rnn.weight_ih_l0\"",
    b"\\\"",
    b"null",
];

/// The largest input made, whatever the seeds.
const MAX_LEN: usize = 1 << 20;
/// The most data a format-aware fix-up adds.
const MAX_FIX: usize = 1 << 20;

/// Makes inputs for one target from its seeds.
pub struct Mutator {
    seeds: Vec<Vec<u8>>,
    format: Format,
    max_len: usize,
    /// One gzip member of 1 MiB of zeros, for gzip bombs.
    zeros_gz: Vec<u8>,
}

fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n == 0 { 0 } else { rng.random_range(0..n) }
}

/// A length for a chunk of a `len`-byte input: usually short.
fn chunk(rng: &mut ChaCha8Rng, len: usize) -> usize {
    let cap = 1usize << below(rng, 13);
    1 + below(rng, cap.min(len.max(1)))
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[below(rng, items.len())]
}

/// One of [`NUMBERS`] as JSON (those beyond u64 become floats, as serde_json reads them).
fn number(rng: &mut ChaCha8Rng) -> Value {
    let text: &str = pick::<&str>(rng, &NUMBERS);
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl Mutator {
    /// A mutator of these seeds (at least one).
    pub fn new(seeds: Vec<Vec<u8>>, format: Format) -> Mutator {
        let longest = seeds.iter().map(Vec::len).max().unwrap_or(0);
        let zeros_gz = if format == Format::IdxGz { gzip(&vec![0; 1 << 20], 9) } else { Vec::new() };
        // Room for a gzip bomb's members (about a kilobyte per megabyte of zeros).
        let least = if format == Format::IdxGz { 128 << 10 } else { 4096 };
        Mutator { seeds, format, max_len: (2 * longest).clamp(least, MAX_LEN), zeros_gz }
    }

    /// The seeds, unchanged.
    pub fn seeds(&self) -> &[Vec<u8>] {
        &self.seeds
    }

    /// A new input: a seed changed one to eight times.
    pub fn mutate(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let mut d = pick(rng, &self.seeds).clone();
        let rounds = 1 + rng.random::<u32>().trailing_zeros().min(7) as usize;
        for _ in 0..rounds {
            let aware = if rng.random_ratio(2, 5) { self.aware(&d, rng) } else { None };
            match aware {
                Some(x) => d = x,
                None => self.bytes(&mut d, rng),
            }
            d.truncate(self.max_len);
        }
        d
    }

    fn tokens(&self) -> &'static [&'static [u8]] {
        match self.format {
            Format::Safetensors => SAFETENSORS_TOKENS,
            Format::Npy => NPY_TOKENS,
            Format::Idx | Format::IdxGz => &[],
            Format::Csv | Format::Tsv => CSV_TOKENS,
            Format::Jsonl => JSON_TOKENS,
            Format::Text => TEXT_TOKENS,
        }
    }

    /// One byte-level change.
    fn bytes(&self, d: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
        let len = d.len();
        match rng.random_range(0..12) {
            0 if len > 0 => {
                let i = below(rng, len);
                d[i] ^= 1 << below(rng, 8);
            }
            1 if len > 0 => {
                let i = below(rng, len);
                d[i] = *pick(rng, &BYTES);
            }
            2 if len > 0 => {
                let i = below(rng, len);
                d[i] = rng.random();
            }
            3 => {
                let v = *pick(rng, &WORDS);
                let width = *pick(rng, &[2usize, 4, 8]);
                let le = v.to_le_bytes();
                let be = v.to_be_bytes();
                let w = if rng.random() { le[..width].to_vec() } else { be[8 - width..].to_vec() };
                let at = below(rng, len + 1);
                for (k, b) in w.into_iter().enumerate() {
                    match d.get_mut(at + k) {
                        Some(x) => *x = b,
                        None => d.push(b),
                    }
                }
            }
            4 => {
                let at = below(rng, len + 1);
                let n = 1 + below(rng, 32);
                let fill: Vec<u8> = if rng.random() {
                    (0..n).map(|_| rng.random()).collect()
                } else {
                    vec![*pick(rng, &BYTES); n]
                };
                d.splice(at..at, fill);
            }
            5 if len > 0 => {
                let at = below(rng, len);
                let n = chunk(rng, len - at);
                d.drain(at..(at + n).min(len));
            }
            6 if len > 0 => {
                let from = below(rng, len);
                let n = chunk(rng, len - from).min(len - from);
                let piece = d[from..from + n].to_vec();
                let at = below(rng, len + 1);
                d.splice(at..at, piece);
            }
            7 if len > 1 => {
                let from = below(rng, len);
                let n = chunk(rng, len - from).min(len - from);
                let to = below(rng, len - n + 1);
                d.copy_within(from..from + n, to);
            }
            8 => d.truncate(below(rng, len + 1)),
            9 => {
                let other = pick(rng, &self.seeds);
                let (i, j) = (below(rng, len + 1), below(rng, other.len() + 1));
                d.truncate(i);
                d.extend_from_slice(&other[j..]);
            }
            10 if !self.tokens().is_empty() => {
                let t = *pick(rng, self.tokens());
                let at = below(rng, len + 1);
                d.splice(at..at, t.iter().copied());
            }
            11 if len > 0 => {
                let delta = 1 + below(rng, 16) as u32;
                let at = below(rng, len.saturating_sub(3).max(1));
                if at + 4 <= len && rng.random() {
                    let mut w = [0u8; 4];
                    w.copy_from_slice(&d[at..at + 4]);
                    let be = rng.random();
                    let v = if be { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) };
                    let v = if rng.random() { v.wrapping_add(delta) } else { v.wrapping_sub(delta) };
                    d[at..at + 4].copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
                } else {
                    d[at] = if rng.random() {
                        d[at].wrapping_add(delta as u8)
                    } else {
                        d[at].wrapping_sub(delta as u8)
                    };
                }
            }
            _ => {
                let i = below(rng, len + 1);
                d.insert(i, rng.random());
            }
        }
    }

    /// One change that knows the format, or `None` when the input no longer parses as it.
    fn aware(&self, d: &[u8], rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
        match self.format {
            Format::Safetensors => safetensors(d, rng),
            Format::Npy => npy(d, rng),
            Format::Idx => idx(d, rng),
            Format::IdxGz => self.idx_gz(d, rng),
            Format::Csv => lines(d, rng, b',', CSV_TOKENS),
            Format::Tsv => lines(d, rng, b'\t', CSV_TOKENS),
            Format::Jsonl => lines(d, rng, b',', JSON_TOKENS),
            Format::Text => lines(d, rng, b' ', TEXT_TOKENS),
        }
    }

    /// A gzipped IDX file: its contents changed and compressed again, or the gzip layer
    /// itself (header flags, trailer, more members, a bomb of zeros).
    fn idx_gz(&self, d: &[u8], rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
        match rng.random_range(0..100) {
            0..=48 => {
                let mut inner = Vec::new();
                MultiGzDecoder::new(d).take(4 << 20).read_to_end(&mut inner).ok()?;
                let mut inner = match idx(&inner, rng) {
                    Some(x) if rng.random() => x,
                    _ => inner,
                };
                if rng.random_ratio(1, 3) {
                    self.bytes(&mut inner, rng);
                }
                Some(gzip(&inner, below(rng, 10) as u32))
            }
            49..=64 if d.len() > 10 => {
                // FLG: FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT and the reserved bits, with or
                // without the fields they announce.
                let mut out = d.to_vec();
                let bit = 1u8 << below(rng, 8);
                out[3] ^= bit;
                if rng.random() {
                    let field: Vec<u8> = match bit {
                        2 => vec![rng.random(), rng.random()],
                        4 => {
                            let n = below(rng, 64) as u16;
                            let mut f = n.to_le_bytes().to_vec();
                            f.extend((0..n).map(|_| rng.random::<u8>()));
                            f
                        }
                        8 | 16 => b"t10k-images-idx3-ubyte\0".to_vec(),
                        _ => vec![],
                    };
                    out.splice(10..10, field);
                }
                Some(out)
            }
            65..=80 if d.len() >= 8 => {
                let mut out = d.to_vec();
                let n = out.len();
                let at = n - 8 + 4 * below(rng, 2);
                let v = *pick(rng, &WORDS) as u32;
                out[at..at + 4].copy_from_slice(&v.to_le_bytes());
                Some(out)
            }
            81..=97 => {
                let mut out = d.to_vec();
                match below(rng, 4) {
                    0 => out.extend(gzip(&[], 6)),
                    1 => out.extend(gzip(
                        &(0..below(rng, 64)).map(|_| rng.random::<u8>()).collect::<Vec<_>>(),
                        1,
                    )),
                    2 => out.extend_from_slice(&d[..below(rng, d.len() + 1)]),
                    _ => out.extend((0..1 + below(rng, 16)).map(|_| rng.random::<u8>())),
                }
                Some(out)
            }
            98 => {
                // A bomb: a header promising a lot, then up to 64 MiB of compressed zeros.
                let dims = *pick(rng, &[u32::MAX, 1 << 31, 1 << 26, 1 << 24]);
                let mut out = gzip(&[&[0, 0, 8, 1][..], &dims.to_be_bytes()].concat(), 6);
                for _ in 0..1 + below(rng, 64) {
                    out.extend_from_slice(&self.zeros_gz);
                }
                Some(out)
            }
            _ => {
                // A bomb after the data: trailing bytes that are many megabytes of zeros.
                let mut out = d.to_vec();
                for _ in 0..1 + below(rng, 64) {
                    out.extend_from_slice(&self.zeros_gz);
                }
                Some(out)
            }
        }
    }
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// A safetensors file: its JSON header changed (a number, a dtype, a shape, a tensor removed,
/// copied or renamed, the offsets, the metadata and the JSON inside it), and half the time the
/// offsets and data made consistent again so the change reaches recur's own checks; or its
/// header length.
fn safetensors(d: &[u8], rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
    let n = usize::try_from(u64::from_le_bytes(d.get(..8)?.try_into().ok()?)).ok()?;
    let header = d.get(8..8usize.checked_add(n)?)?;
    let mut h: Value = serde_json::from_slice(header).ok()?;
    let mut body = d[8 + n..].to_vec();
    let obj = h.as_object_mut()?;
    let names: Vec<String> = obj.keys().filter(|k| *k != "__metadata__").cloned().collect();
    let name = (!names.is_empty()).then(|| pick(rng, &names).clone());
    match rng.random_range(0..11) {
        0 => mutate_json(&mut h, rng),
        1 => {
            let t = obj.get_mut(name.as_ref()?)?;
            t.as_object_mut()?.insert("dtype".into(), Value::from(*pick(rng, &DTYPES)));
        }
        2 => {
            let shape = obj.get_mut(name.as_ref()?)?.get_mut("shape")?.as_array_mut()?;
            match below(rng, 4) {
                0 => shape.push(Value::from(*pick(rng, &[0u64, 1, 2, 3, 7]))),
                1 => drop(shape.pop()),
                _ if !shape.is_empty() => {
                    let i = below(rng, shape.len());
                    shape[i] = number(rng);
                }
                _ => shape.push(Value::from(1)),
            }
        }
        3 => drop(obj.remove(name.as_ref()?)),
        4 => {
            let t = obj.get(name.as_ref()?)?.clone();
            obj.insert(pick(rng, &NAMES).to_string(), t);
        }
        5 => {
            let t = obj.remove(name.as_ref()?)?;
            let new = match below(rng, 3) {
                0 => pick(rng, &NAMES).to_string(),
                1 => name.as_ref()?.replacen("rnn.", "lstm.", 1),
                _ => name.as_ref()?.replacen("_l0", "_l1", 1),
            };
            obj.insert(new, t);
        }
        6 => drop(obj.remove("__metadata__")),
        7 | 8 => {
            let meta = obj.entry("__metadata__").or_insert_with(|| Value::Object(Default::default()));
            let meta = meta.as_object_mut()?;
            let key = *pick(rng, &["config", "config", "task", "task", "format_version", "format"]);
            let mut inner: Value = match meta.get(key).and_then(Value::as_str) {
                Some(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::from(s)),
                None => Value::from(*pick(rng, &STRINGS)),
            };
            if rng.random_ratio(1, 8) {
                meta.insert(key.into(), Value::from(pick(rng, &NUMBERS).to_string()));
            } else {
                mutate_json(&mut inner, rng);
                let text = match inner {
                    Value::String(s) => s,
                    v => v.to_string(),
                };
                meta.insert(key.into(), Value::from(text));
            }
        }
        9 => {
            let offsets = obj.get_mut(name.as_ref()?)?.get_mut("data_offsets")?.as_array_mut()?;
            let i = below(rng, offsets.len().max(1));
            let v = if rng.random() { Value::from(below(rng, body.len() + 2)) } else { number(rng) };
            *offsets.get_mut(i)? = v;
            return Some(assemble(&h, &body, rng, None));
        }
        _ => {
            let len = if rng.random() {
                *pick(rng, &WORDS)
            } else {
                (n as u64).wrapping_add(below(rng, 17) as u64).wrapping_sub(8)
            };
            return Some(assemble(&h, &body, rng, Some(len)));
        }
    }
    if rng.random() {
        fix_offsets(&mut h, &mut body, rng);
    }
    Some(assemble(&h, &body, rng, None))
}

/// Lays the tensors out again one after another in their current order, each as long as its
/// shape and dtype say, and the data to match (when it stays under a megabyte).
fn fix_offsets(h: &mut Value, body: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> Option<()> {
    let obj = h.as_object_mut()?;
    let mut order: Vec<(u64, String)> = obj
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| (v["data_offsets"][0].as_u64().unwrap_or(u64::MAX), k.clone()))
        .collect();
    order.sort();
    let mut at = 0usize;
    for (_, k) in order {
        let t = obj.get_mut(&k)?;
        let bits = match t["dtype"].as_str()? {
            "F64" | "I64" | "U64" | "C64" => 64,
            "F32" | "I32" | "U32" => 32,
            "F16" | "BF16" | "I16" | "U16" => 16,
            "F4" => 4,
            "F6_E2M3" | "F6_E3M2" => 6,
            _ => 8,
        };
        let count =
            t["shape"].as_array()?.iter().try_fold(1usize, |a, d| a.checked_mul(d.as_u64()? as usize))?;
        let size = count.checked_mul(bits)? / 8;
        if at.checked_add(size)? > MAX_FIX {
            return None;
        }
        t.as_object_mut()?.insert("data_offsets".into(), Value::from(vec![at, at + size]));
        at += size;
    }
    let old = body.len();
    body.resize(at, 0);
    for b in body.iter_mut().skip(old) {
        *b = rng.random();
    }
    Some(())
}

/// The file again: the header's length (`len`, or the true one), the header padded with
/// spaces to a multiple of 8 (as writers do, most of the time), and the data.
fn assemble(h: &Value, body: &[u8], rng: &mut ChaCha8Rng, len: Option<u64>) -> Vec<u8> {
    let mut text = serde_json::to_vec(h).expect("a Value serializes");
    if rng.random_ratio(3, 4) {
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
    }
    let mut out = len.unwrap_or(text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(body);
    out
}

/// Changes one node of a JSON value: a number or a string to an interesting one, a list
/// longer or shorter, an object without a key or with a new one.
fn mutate_json(v: &mut Value, rng: &mut ChaCha8Rng) {
    let mut paths = Vec::new();
    json_paths(v, String::new(), &mut paths);
    let path = pick(rng, &paths).clone();
    let Some(node) = v.pointer_mut(&path) else { return };
    match node {
        Value::Number(_) | Value::Null => {
            *node = match below(rng, 4) {
                0 => Value::from(pick(rng, &STRINGS).to_string()),
                _ => number(rng),
            }
        }
        Value::String(_) => {
            *node = match below(rng, 5) {
                0 => number(rng),
                _ => Value::from(pick(rng, &STRINGS).to_string()),
            }
        }
        Value::Bool(b) => *b = !*b,
        Value::Array(a) => match below(rng, 5) {
            0 if !a.is_empty() => {
                let x = pick(rng, a).clone();
                let n = 1 + below(rng, 70);
                a.extend(std::iter::repeat_n(x, n));
            }
            1 => drop(a.pop()),
            2 => a.clear(),
            3 => *node = Value::Null,
            _ => a.push(number(rng)),
        },
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            if !keys.is_empty() && rng.random() {
                o.remove(pick(rng, &keys));
            } else {
                let key = *pick(
                    rng,
                    &[
                        "hidden_sizes",
                        "input_size",
                        "output_size",
                        "vocab_size",
                        "cell",
                        "head",
                        "loss",
                        "bidirectional",
                        "learn_init",
                        "dropout",
                        "name",
                        "symbols",
                        "unk",
                        "x",
                        "y",
                    ],
                );
                o.insert(key.into(), number(rng));
            }
        }
    }
}

/// JSON pointers to every node of `v`.
fn json_paths(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                json_paths(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                json_paths(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A `.npy` file: its header's shape, descr or fortran_order, its keys, its version or its
/// length changed, and half the time the data cut or grown to what the header says.
fn npy(d: &[u8], rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
    if !d.starts_with(b"\x93NUMPY") || d.len() < 10 {
        return None;
    }
    let mut major = d[6];
    let ls = if major == 1 { 2 } else { 4 };
    let hl = if ls == 2 {
        u16::from_le_bytes([d[8], d[9]]) as usize
    } else {
        u32::from_le_bytes(d.get(8..12)?.try_into().ok()?) as usize
    };
    let mut header = std::str::from_utf8(d.get(8 + ls..8 + ls + hl)?).ok()?.trim_end().to_string();
    let mut data = d[8 + ls + hl..].to_vec();
    let mut len = None;
    match rng.random_range(0..9) {
        0 | 1 => {
            let n = below(rng, 6);
            let dims: Vec<&str> = (0..n).map(|_| *pick(rng, &DIMS)).collect();
            let comma = if n == 1 || rng.random_ratio(1, 4) { "," } else { "" };
            replace_value(&mut header, "shape", &format!("({}{comma})", dims.join(", ")))?;
        }
        2 => replace_value(&mut header, "descr", &format!("'{}'", pick(rng, &DESCRS)))?,
        3 => replace_value(&mut header, "fortran_order", pick::<&str>(rng, &["True", "False", "1", "None"]))?,
        4 => major = *pick(rng, &[1, 2, 3, 0, 4, 0xff]),
        5 => {
            let edits: [(&str, &str); 6] = [
                ("'descr'", "'descr2'"),
                ("'shape'", "\"shape\""),
                ("}", ""),
                ("{", "{'descr': '<f4', "),
                (", ", ",\n "),
                ("'fortran_order': False, ", ""),
            ];
            let (a, b) = pick(rng, &edits);
            header = header.replacen(a, b, 1);
        }
        6 => len = Some(*pick(rng, &WORDS) as u32),
        _ => {
            let shape = value_of(&header, "shape")?;
            let mut dims: Vec<u64> = shape
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect();
            if dims.is_empty() {
                dims.push(1);
            }
            let i = below(rng, dims.len());
            dims[i] = if rng.random() { dims[i].wrapping_add(1) } else { dims[i].wrapping_sub(1) };
            let comma = if dims.len() == 1 { "," } else { "" };
            let text: Vec<String> = dims.iter().map(u64::to_string).collect();
            replace_value(&mut header, "shape", &format!("({}{comma})", text.join(", ")))?;
        }
    }
    if rng.random() {
        fix_npy_data(&header, &mut data, rng);
    }
    // Padding as NumPy writes it (spaces and a newline to a multiple of 64), or none.
    let ls = if major == 1 { 2 } else { 4 };
    if rng.random_ratio(3, 4) {
        while !(8 + ls + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
    }
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    let hl = len.unwrap_or(header.len() as u32);
    if ls == 2 {
        out.extend_from_slice(&(hl as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&hl.to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Some(out)
}

/// The text of `key`'s value in a header dict: `'<f4'`, `False`, `(2, 3)`.
fn value_of<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end =
        if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}']).unwrap_or(rest.len()) };
    Some(&rest[..end])
}

fn replace_value(header: &mut String, key: &str, new: &str) -> Option<()> {
    let old = value_of(header, key)?;
    let start = old.as_ptr() as usize - header.as_ptr() as usize;
    header.replace_range(start..start + old.len(), new);
    Some(())
}

/// Cuts or grows the data to the size the header's shape and descr give.
fn fix_npy_data(header: &str, data: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> Option<()> {
    let descr = value_of(header, "descr")?.trim_matches(|c| c == '\'' || c == '"');
    let size = descr.get(2..)?.parse::<usize>().ok()?;
    let shape = value_of(header, "shape")?;
    let count = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter(|x| !x.trim().is_empty())
        .try_fold(1usize, |a, x| a.checked_mul(x.trim().trim_end_matches('L').parse().ok()?))?;
    let want = count.checked_mul(size)?;
    if want > MAX_FIX {
        return None;
    }
    let old = data.len();
    data.resize(want, 0);
    for b in data.iter_mut().skip(old) {
        *b = rng.random();
    }
    Some(())
}

/// An IDX file: a dimension, the number of dimensions, the type code or the magic changed,
/// and half the time the data cut or grown to what the dimensions say.
fn idx(d: &[u8], rng: &mut ChaCha8Rng) -> Option<Vec<u8>> {
    if d.len() < 4 {
        return None;
    }
    let mut out = d.to_vec();
    let nd = out[3] as usize;
    match rng.random_range(0..5) {
        0 | 1 => {
            let i = below(rng, nd.max(1));
            let at = 4 + 4 * i;
            let v = *pick(rng, &IDX_DIMS);
            out.get_mut(at..at + 4)?.copy_from_slice(&v.to_be_bytes());
        }
        2 => {
            let new = below(rng, 7);
            out[3] = new as u8;
            let header_end = (4 + 4 * nd).min(out.len());
            if new > nd {
                let extra: Vec<u8> = (0..new - nd).flat_map(|_| pick(rng, &IDX_DIMS).to_be_bytes()).collect();
                out.splice(header_end..header_end, extra);
            } else {
                out.drain((4 + 4 * new).min(header_end)..header_end);
            }
        }
        3 => {
            let other = rng.random();
            out[2] = *pick(rng, &[8, 9, 0x0b, 0x0c, 0x0d, 0x0e, other]);
        }
        _ => out[below(rng, 2)] = *pick(rng, &BYTES),
    }
    if rng.random() {
        let nd = out[3] as usize;
        let count = out
            .get(4..4 + 4 * nd)?
            .chunks(4)
            .try_fold(1usize, |a, c| a.checked_mul(u32::from_be_bytes(c.try_into().ok()?) as usize))?;
        if count <= MAX_FIX {
            let old = out.len();
            out.resize(4 + 4 * nd + count, 0);
            for b in out.iter_mut().skip(old) {
                *b = rng.random();
            }
        }
    }
    Some(out)
}

/// Text in lines: a line copied, dropped, swapped or repeated, a token inserted, a field
/// replaced; for JSON Lines, a line's JSON changed as JSON.
fn lines(d: &[u8], rng: &mut ChaCha8Rng, sep: u8, tokens: &[&[u8]]) -> Option<Vec<u8>> {
    let mut ls: Vec<Vec<u8>> = d.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if ls.is_empty() {
        ls.push(Vec::new());
    }
    let n = ls.len();
    let i = below(rng, n);
    match rng.random_range(0..7) {
        0 => {
            let l = ls[i].clone();
            ls.insert(below(rng, n + 1), l);
        }
        1 if n > 1 => drop(ls.remove(i)),
        2 => ls.swap(i, below(rng, n)),
        3 => {
            let at = below(rng, ls[i].len() + 1);
            ls[i].splice(at..at, pick(rng, tokens).iter().copied());
        }
        4 => {
            let fields: Vec<&[u8]> = ls[i].split(|&b| b == sep).collect();
            let k = below(rng, fields.len());
            let mut new: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
            new[k] = pick(rng, tokens).to_vec();
            ls[i] = new.join(&sep);
        }
        5 if tokens == JSON_TOKENS => {
            let mut v: Value = serde_json::from_slice(&ls[i]).ok()?;
            mutate_json(&mut v, rng);
            ls[i] = serde_json::to_vec(&v).ok()?;
            ls[i].push(b'\n');
        }
        _ => {
            let l = ls[i].clone();
            for _ in 0..below(rng, 100) {
                ls.insert(i, l.clone());
            }
        }
    }
    Some(ls.concat())
}
