//! Text into symbols: words and punctuation marks (a run of letters, digits and apostrophes is
//! a word; any other non-space character is a symbol of its own), or every character; and a
//! vocabulary ordered by frequency, ties by first occurrence (Python's
//! `collections.Counter(words).most_common()`).

use std::collections::HashMap;

/// Splits text into symbols: with `char_level`, every character (spaces included); otherwise
/// words (runs of letters and digits, with apostrophes inside or after a word: `don't`) and
/// each other non-space character as a symbol of its own. Whitespace only separates.
///
/// # Examples
///
/// ```
/// use recur::data::tokenize::tokenize;
///
/// assert_eq!(tokenize("Don't panic, Arthur!", false), ["Don't", "panic", ",", "Arthur", "!"]);
/// assert_eq!(tokenize("a b", true), ["a", " ", "b"]);
/// ```
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

/// Calls `f` on each symbol of `text` in order, as [`tokenize`] cuts them, without keeping
/// them: for texts too large to hold as one `String` per symbol.
pub fn for_each_token(text: &str, char_level: bool, mut f: impl FnMut(&str)) {
    let mut word = String::new();
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if char_level {
            f(c.encode_utf8(&mut buf));
            continue;
        }
        if c.is_alphanumeric() || (c == '\'' && !word.is_empty()) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            f(&word);
            word.clear();
        }
        if !c.is_whitespace() {
            f(c.encode_utf8(&mut buf));
        }
    }
    if !word.is_empty() {
        f(&word);
    }
}

/// The symbol that stands for every symbol a cut vocabulary leaves out.
pub const UNK: &str = "<unk>";

/// A vocabulary for a language model: symbols by descending frequency (ties by first
/// occurrence), cut to the `max_vocab` most frequent and to those seen `min_count` times,
/// with [`UNK`] for the rest when any were cut.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    /// Id -> symbol.
    pub symbols: Vec<String>,
    /// The id of [`UNK`], when the vocabulary was cut.
    pub unk: Option<u32>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// Counts the symbols of `text` and keeps the most frequent (`max_vocab` counts `<unk>`).
    pub fn build(text: &str, char_level: bool, max_vocab: Option<usize>, min_count: usize) -> Vocab {
        let mut count: HashMap<String, (usize, usize)> = HashMap::new();
        let mut i = 0;
        for_each_token(text, char_level, |t| {
            match count.get_mut(t) {
                Some(c) => c.0 += 1,
                None => {
                    count.insert(t.to_string(), (1, i));
                }
            }
            i += 1;
        });
        let mut v: Vec<(String, (usize, usize))> = count.into_iter().collect();
        v.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
        let all = v.len();
        v.retain(|(_, (c, _))| *c >= min_count.max(1));
        if let Some(m) = max_vocab
            && v.len() > m
        {
            v.truncate(m.saturating_sub(1).max(1));
        }
        let mut symbols: Vec<String> = v.into_iter().map(|(s, _)| s).collect();
        let unk = (symbols.len() < all).then(|| {
            symbols.push(UNK.to_string());
            (symbols.len() - 1) as u32
        });
        Vocab::from_symbols(symbols, unk)
    }

    /// A vocabulary of these symbols (as a model file records them).
    pub fn from_symbols(symbols: Vec<String>, unk: Option<u32>) -> Vocab {
        let index = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Vocab { symbols, unk, index }
    }

    /// The id of `symbol`, or `<unk>`'s; `None` for an unknown symbol without `<unk>`.
    pub fn id(&self, symbol: &str) -> Option<u32> {
        self.index.get(symbol).copied().or(self.unk)
    }

    /// The ids of `text`'s symbols, and how many were unknown (mapped to `<unk>`, or, without
    /// it, left out).
    pub fn encode(&self, text: &str, char_level: bool) -> (Vec<u32>, usize) {
        let (mut ids, mut unknown) = (Vec::new(), 0);
        for_each_token(text, char_level, |t| match self.index.get(t) {
            Some(&i) => ids.push(i),
            None => {
                unknown += 1;
                if let Some(u) = self.unk {
                    ids.push(u);
                }
            }
        });
        (ids, unknown)
    }
}

#[cfg(test)]
mod vocab_tests {
    use super::*;

    #[test]
    fn streamed_tokens_are_tokenize_s() {
        let text = "The cat's bell, rang.\n\"Ok\" — 3 mice";
        for char_level in [false, true] {
            let mut got = Vec::new();
            for_each_token(text, char_level, |t| got.push(t.to_string()));
            assert_eq!(got, tokenize(text, char_level));
        }
    }

    #[test]
    fn a_cut_vocabulary_maps_the_rest_to_unk() {
        let v = Vocab::build("a a a b b c d", false, Some(3), 1);
        assert_eq!(v.symbols, ["a", "b", UNK]);
        assert_eq!(v.encode("a c b x", false), (vec![0, 2, 1, 2], 2));
        let v = Vocab::build("a a a b b c d", false, None, 2);
        assert_eq!((v.symbols.len(), v.unk), (3, Some(2)));
        let full = Vocab::build("ab", true, None, 1);
        assert_eq!((full.symbols.len(), full.unk), (2, None));
        assert_eq!(full.encode("abc", true), (vec![0, 1], 1));
    }
}
