//! Time series in CSV/TSV files: one row per time step, one numeric column per series.

use std::path::Path;

use crate::error::{Error, Result};

/// Reads the named numeric columns (all but a first `t`/`time`/`date` column when none are
/// named) of a CSV file (a `.tsv` one with tabs): `[rows][columns]`.
pub fn read_series(path: &Path, columns: &[String]) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_series(&bytes, path, columns)
}

/// [`read_series`] on the bytes of a file already in memory; `path` names the file in errors
/// and a `.tsv` extension means tabs.
pub fn parse_series(bytes: &[u8], path: &Path, columns: &[String]) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let tsv = path.extension().is_some_and(|e| e == "tsv");
    let mut rdr = csv::ReaderBuilder::new().delimiter(if tsv { b'\t' } else { b',' }).from_reader(bytes);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::format(path, e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let names: Vec<String> = if columns.is_empty() {
        headers
            .iter()
            .filter(|h| !matches!(h.to_lowercase().as_str(), "t" | "time" | "date" | "step"))
            .cloned()
            .collect()
    } else {
        columns.to_vec()
    };
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            headers.iter().position(|h| h == n).ok_or_else(|| {
                Error::format(path, format!("no column `{n}` (the header has {headers:?}); use --columns"))
            })
        })
        .collect::<Result<_>>()?;
    if idx.is_empty() {
        return Err(Error::format(path, "no value columns; name them with --columns"));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            Error::format(path, format!("line {}: {e}", e.position().map_or(0, |p| p.line())))
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let row = idx
            .iter()
            .map(|&i| {
                let field = rec.get(i).unwrap_or("").trim();
                field.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    Error::format(path, format!("line {line}, column {}: `{field}` is not a number", i + 1))
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        rows.push(row);
    }
    Ok((names, rows))
}
