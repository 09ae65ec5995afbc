//! Turning a row's sequence into model input, shared by `classify`, `regress` and `label`:
//! symbol strings become ids (one per step, through an embedding), numbers become `F` features
//! per step normalized with the training rows' per-feature mean and deviation.
//!
//! A text sequence holds numbers when it has separators: `0.1 0.5 -2` and `0.1;0.5;-2` are
//! three steps of one feature; with a `;`, steps are `;`-separated and each holds its features
//! separated by spaces (`0.1 2;0.5 3;-2 1` is 3 steps x 2 features). Every step of every row
//! must have the same `F`, the training data's (or, predicting, the model's).
//!
//! Deliberately not here: reading files ([`crate::data::rows`]) and what a label means.

use serde::{Deserialize, Deserializer};

use crate::data::rows::{Row, Seq, Source, Table};
use crate::error::{Error, Result};

/// How a model's sequences are encoded, as fitted on its training rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Encoder {
    /// Symbols, id = index.
    Symbols(Vec<String>),
    /// Per feature (mean, deviation).
    Numbers(Vec<(f64, f64)>),
}

impl Encoder {
    /// Input floats per step: 1 symbol id, or `F` features.
    pub fn width(&self) -> usize {
        match self {
            Encoder::Symbols(_) => 1,
            Encoder::Numbers(n) => n.len(),
        }
    }

    /// Fits the encoding on training rows: the alphabet (sorted) or each feature's mean and
    /// deviation. The rows are numbers when more of them look like numbers (a list, or text
    /// with separators) than like symbols (text without separators that is not one number);
    /// a single-step `7` does not vote, so it is the number 7 in a file of numbers. The first
    /// numeric row sets the features per step.
    pub fn fit(train: &Table) -> Result<Encoder> {
        if train.rows.is_empty() {
            return Err(Error::format(&train.src.path, "no training rows"));
        }
        let numeric = train.rows.iter().filter(|r| is_numeric(&r.seq)).count();
        let symbolic = train
            .rows
            .iter()
            .filter(|r| matches!(&r.seq, Seq::Text(s) if !is_numeric(&r.seq) && s.parse::<f64>().is_err()))
            .count();
        let first = train.rows.iter().find(|r| is_numeric(&r.seq));
        let Some(first) = first.filter(|_| numeric > symbolic) else {
            let mut a: Vec<String> =
                train.rows.iter().map(|r| symbols(&train.src, r)).collect::<Result<Vec<_>>>()?.concat();
            a.sort();
            a.dedup();
            return Ok(Encoder::Symbols(a));
        };
        let f = numbers(&train.src, first, None)?.first().map_or(1, Vec::len);
        let all: Vec<Vec<Vec<f64>>> =
            train.rows.iter().map(|r| numbers(&train.src, r, Some(f))).collect::<Result<_>>()?;
        let norm = (0..f)
            .map(|k| {
                mean_deviation(all.iter().flatten().map(|step| step[k]))
                    .ok_or_else(|| Error::format(&train.src.path, format!("feature {}: {TOO_LARGE}", k + 1)))
            })
            .collect::<Result<_>>()?;
        Ok(Encoder::Numbers(norm))
    }

    /// Encodes a row: `[steps * width]` floats.
    pub fn encode(&self, src: &Source, row: &Row) -> Result<Vec<f32>> {
        match self {
            Encoder::Symbols(alpha) => symbols(src, row)?
                .iter()
                .map(|c| {
                    // The alphabet is sorted as `fit` makes it, so a binary search finds a symbol
                    // in a large one (CJK text has thousands); a miss is looked for in order, for
                    // an alphabet that is not sorted.
                    let at = alpha.binary_search_by(|a| a.as_str().cmp(c)).ok();
                    at.or_else(|| alpha.iter().position(|a| a == c)).map(|i| i as f32).ok_or_else(|| {
                        src.err(
                            row.line,
                            format!("symbol `{c}` was not in the training data (known: {})", alpha.concat()),
                        )
                    })
                })
                .collect(),
            Encoder::Numbers(norm) => {
                let steps = numbers(src, row, Some(norm.len()))?;
                let mut out = Vec::with_capacity(steps.len() * norm.len());
                for (k, step) in steps.iter().enumerate() {
                    for (v, (m, s)) in step.iter().zip(norm) {
                        let x = ((v - m) / s) as f32;
                        if !x.is_finite() {
                            let at = src.at_step(row.line, k + 1);
                            let why = format!(
                                "{v:e} is too far from the training values (mean {m:.4}, deviation {s:.4})"
                            );
                            return Err(Error::format(&src.path, format!("{at}: {why}")));
                        }
                        out.push(x);
                    }
                }
                Ok(out)
            }
        }
    }

    /// Normalizes an array of `[.., F]` features in place as [`Encoder::encode`] does, for
    /// inputs given to the model as an array; symbol ids are left as they are.
    pub fn normalize_in_place(&self, x: &mut [f32]) {
        if let Encoder::Numbers(norm) = self {
            for step in x.chunks_mut(norm.len()) {
                for (v, (m, s)) in step.iter_mut().zip(norm) {
                    *v = ((*v as f64 - m) / s) as f32;
                }
            }
        }
    }

    /// Steps in a row, without encoding it (for checking per-step labels).
    pub fn steps(&self, src: &Source, row: &Row) -> Result<usize> {
        Ok(self.encode(src, row)?.len() / self.width().max(1))
    }
}

/// Why [`mean_deviation`] failed, for error messages.
pub const TOO_LARGE: &str = "values too large to normalize (their mean or deviation overflows); rescale them";

/// The mean and (population) deviation of `values`, the deviation at least 1e-12 so a constant
/// normalizes to 0; `None` when either overflows (values beyond about 1e154).
pub fn mean_deviation(values: impl Iterator<Item = f64> + Clone) -> Option<(f64, f64)> {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for v in values.clone() {
        sum += v;
        n += 1;
    }
    let mean = sum / n.max(1) as f64;
    let sq: f64 = values.map(|v| (v - mean) * (v - mean)).sum();
    let sd = (sq / n.max(1) as f64).sqrt().max(1e-12);
    (mean.is_finite() && sd.is_finite()).then_some((mean, sd))
}

/// Whether a sequence holds numbers: a list, or text with separators.
pub fn is_numeric(seq: &Seq) -> bool {
    match seq {
        Seq::Numbers(_) => true,
        Seq::Text(s) => s.contains(|c: char| c.is_whitespace() || c == ';'),
    }
}

/// A symbol string's symbols, one per character.
pub fn symbols(src: &Source, row: &Row) -> Result<Vec<String>> {
    match &row.seq {
        Seq::Text(s) if !is_numeric(&row.seq) => Ok(s.chars().map(String::from).collect()),
        _ => Err(src.err(
            row.line,
            "numbers where symbol strings are expected (the model's or the first training row's kind)",
        )),
    }
}

/// A row's numbers, `[steps][features]`; every step must hold `features` of them (as many as
/// the first step when `None`).
pub fn numbers(src: &Source, row: &Row, features: Option<usize>) -> Result<Vec<Vec<f64>>> {
    let steps = match &row.seq {
        Seq::Numbers(s) => s.clone(),
        Seq::Text(s) => parse_text(src, row.line, s)?,
    };
    let want = features.or(steps.first().map(Vec::len)).unwrap_or(1);
    if want == 0 {
        return Err(Error::format(
            &src.path,
            format!("{}: a step with no numbers", src.at_step(row.line, 1)),
        ));
    }
    for (k, step) in steps.iter().enumerate() {
        if step.len() != want {
            let at = src.at_step(row.line, k + 1);
            let n = step.len();
            let noun = if n == 1 { "feature" } else { "features" };
            let hint = match &row.seq {
                Seq::Text(s) if want > 1 && !s.contains(';') => {
                    " (separate steps by `;` and their features by spaces: `0.1 2;0.5 3`)"
                }
                _ => "",
            };
            return Err(Error::format(&src.path, format!("{at}: {n} {noun}; expected {want}{hint}")));
        }
        if let Some(v) = step.iter().find(|v| !v.is_finite()) {
            return Err(Error::format(
                &src.path,
                format!("{}: {v} is not a finite number", src.at_step(row.line, k + 1)),
            ));
        }
    }
    if steps.is_empty() {
        return Err(src.err(row.line, "the sequence is empty"));
    }
    Ok(steps)
}

/// `0.1 0.5 -2` (one feature per step) or `0.1 2;0.5 3` (`;` between steps, spaces between
/// features).
fn parse_text(src: &Source, line: usize, s: &str) -> Result<Vec<Vec<f64>>> {
    let mut k = 0;
    let mut value = |t: &str| {
        k += 1;
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(src.err(line, format!("value {k} `{t}` is not a number"))),
        }
    };
    if s.contains(';') {
        s.split(';')
            .filter(|step| !step.trim().is_empty())
            .map(|step| step.split_whitespace().map(&mut value).collect())
            .collect()
    } else {
        s.split_whitespace().map(|t| value(t).map(|v| vec![v])).collect()
    }
}

/// Per-step labels: separated by spaces (`B-PER I-PER O`), or one character each (`HHEE`).
pub fn step_labels(s: &str) -> Vec<String> {
    if s.contains(char::is_whitespace) {
        s.split_whitespace().map(String::from).collect()
    } else {
        s.chars().map(String::from).collect()
    }
}

/// Sorts class names: as numbers when all are integers (`2` before `10`), else as text.
pub fn sort_classes(classes: &mut [String]) {
    if classes.iter().all(|c| c.parse::<i64>().is_ok()) {
        classes.sort_by_key(|c| c.parse::<i64>().unwrap_or(0));
    } else {
        classes.sort();
    }
}

/// Reads a normalization as written by any recur version: one `[mean, deviation]` for all
/// values (before several features per step) or one per feature.
pub fn de_normalize<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<(f64, f64)>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One((f64, f64)),
        PerFeature(Vec<(f64, f64)>),
    }
    Ok(Option::<Repr>::deserialize(d)?.map(|r| match r {
        Repr::One(p) => vec![p],
        Repr::PerFeature(v) => v,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rows::Kind;

    fn src() -> Source {
        Source { path: "d.csv".into(), kind: Kind::Csv, column: "sequence".into(), col: 2, label_path: None }
    }
    fn row(s: &str) -> Row {
        Row { line: 7, label: None, seq: Seq::Text(s.into()) }
    }

    #[test]
    fn text_numbers_have_one_or_several_features_per_step() {
        assert_eq!(numbers(&src(), &row("0.1 0.5 -2"), None).unwrap(), [[0.1], [0.5], [-2.0]]);
        assert_eq!(numbers(&src(), &row("0.1;0.5;-2;"), None).unwrap(), [[0.1], [0.5], [-2.0]]);
        assert_eq!(
            numbers(&src(), &row("0.1 2;0.5 3;-2 1"), None).unwrap(),
            [[0.1, 2.0], [0.5, 3.0], [-2.0, 1.0]]
        );
        let e = numbers(&src(), &row("1 2;3 4;5 6 7"), None).unwrap_err().to_string();
        assert_eq!(e, "d.csv: line 7, column sequence, step 3: 3 features; expected 2");
        let e = numbers(&src(), &row("1 2;3 4"), Some(3)).unwrap_err().to_string();
        assert_eq!(e, "d.csv: line 7, column sequence, step 1: 2 features; expected 3");
        let e = numbers(&src(), &row("1 2;3 x"), None).unwrap_err().to_string();
        assert_eq!(e, "d.csv: line 7, column 2: value 4 `x` is not a number");
    }

    #[test]
    fn one_numeric_row_makes_every_row_numbers() {
        // Rows come shuffled: a single-step first row must not turn the rest into symbols.
        let t = Table { src: src(), rows: vec![row("7"), row("1 2 3"), row("4")] };
        let Encoder::Numbers(n) = Encoder::fit(&t).unwrap() else { panic!("numbers") };
        assert!(n.len() == 1 && (n[0].0 - 3.4).abs() < 1e-12, "{n:?}");
        let t = Table { src: src(), rows: vec![row("7"), row("1 2;3 4")] };
        let e = Encoder::fit(&t).unwrap_err().to_string();
        assert!(e.starts_with("d.csv: line 7, column sequence, step 1: 1 feature; expected 2"), "{e}");
        let t = Table { src: src(), rows: vec![row("AB"), row("BA")] };
        assert_eq!(Encoder::fit(&t).unwrap(), Encoder::Symbols(vec!["A".into(), "B".into()]));
        // A stray space in one symbol string makes it the odd one out, not the others.
        let t = Table { src: src(), rows: vec![row("AB"), row("A B"), row("BA")] };
        let e = Encoder::fit(&t).unwrap_err().to_string();
        assert!(e.contains("numbers where symbol strings are expected"), "{e}");
    }

    #[test]
    fn values_too_large_to_normalize_are_an_error() {
        // 1e200 squared overflows: the deviation would be inf and every input 0.
        let t = Table { src: src(), rows: vec![row("0 1e200;1 2"), row("2 -1e200;")] };
        let e = Encoder::fit(&t).unwrap_err().to_string();
        assert_eq!(e, format!("d.csv: feature 2: {TOO_LARGE}"));
        assert_eq!(mean_deviation([1.0, 3.0].into_iter()), Some((2.0, 1.0)));
        assert_eq!(mean_deviation([5.0].into_iter()), Some((5.0, 1e-12)));
        assert_eq!(mean_deviation([1e300, -1e300].into_iter()), None);
        // Predicting, a value whose normalized form overflows f32 is an error, not inf.
        let e = Encoder::Numbers(vec![(0.0, 1.0)]).encode(&src(), &row("1 1e300")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv: line 7, column sequence, step 2: 1e300 is too far"), "{e}");
    }

    #[test]
    fn numbers_are_normalized_per_feature() {
        let t = Table { src: src(), rows: vec![row("0 10;2 30"), row("4 20;")] };
        let Encoder::Numbers(n) = Encoder::fit(&t).unwrap() else { panic!("numbers") };
        assert_eq!(n.len(), 2);
        assert!((n[0].0 - 2.0).abs() < 1e-12 && (n[1].0 - 20.0).abs() < 1e-12, "{n:?}");
        let sd0 = (8.0f64 / 3.0).sqrt();
        assert!((n[0].1 - sd0).abs() < 1e-12, "{n:?}");
        let enc = Encoder::Numbers(n);
        assert_eq!(enc.encode(&src(), &row("2 20;")).unwrap(), [0.0, 0.0]);
        let e = enc.encode(&src(), &row("2 20")).unwrap_err().to_string();
        assert!(e.ends_with("step 1: 1 feature; expected 2 (separate steps by `;` and their features by spaces: `0.1 2;0.5 3`)"), "{e}");
    }

    #[test]
    fn old_single_normalization_still_loads() {
        #[derive(Deserialize)]
        struct S {
            #[serde(default, deserialize_with = "de_normalize")]
            normalize: Option<Vec<(f64, f64)>>,
        }
        let old: S = serde_json::from_str(r#"{"normalize": [0.5, 2.0]}"#).unwrap();
        assert_eq!(old.normalize, Some(vec![(0.5, 2.0)]));
        let new: S = serde_json::from_str(r#"{"normalize": [[0.5, 2.0], [1, 3]]}"#).unwrap();
        assert_eq!(new.normalize, Some(vec![(0.5, 2.0), (1.0, 3.0)]));
        let none: S = serde_json::from_str(r#"{"normalize": null}"#).unwrap();
        assert_eq!(none.normalize, None);
        let absent: S = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.normalize, None);
    }

    #[test]
    fn labels_and_classes() {
        assert_eq!(step_labels("HHo"), ["H", "H", "o"]);
        assert_eq!(step_labels("B-PER O"), ["B-PER", "O"]);
        let mut c = vec!["10".to_string(), "2".into(), "1".into()];
        sort_classes(&mut c);
        assert_eq!(c, ["1", "2", "10"]);
    }
}
