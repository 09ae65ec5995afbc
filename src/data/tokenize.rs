//! Text into symbols: words and punctuation marks (a run of letters, digits and apostrophes is
//! a word; any other non-space character is a symbol of its own), or every character; and a
//! vocabulary ordered by frequency, ties by first occurrence (Python's
//! `collections.Counter(words).most_common()`).

use std::collections::HashMap;

/// Splits text into symbols.
pub fn tokenize(text: &str, char_level: bool) -> Vec<String> {
    if char_level {
        return text.chars().map(String::from).collect();
    }
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || (c == '\'' && !word.is_empty()) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Symbols by descending frequency, ties by first occurrence.
pub fn build_vocab(tokens: &[String]) -> Vec<String> {
    let mut count: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, t) in tokens.iter().enumerate() {
        count.entry(t).or_insert((0, i)).0 += 1;
    }
    let mut v: Vec<(&str, (usize, usize))> = count.into_iter().collect();
    v.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    v.into_iter().map(|(s, _)| s.to_string()).collect()
}
