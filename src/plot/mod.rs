//! Pictures of a run: training curves from a `--metrics` JSON-lines file ([`metrics`]) and a
//! forecaster's predictions against the true series ([`forecast`]), drawn with `plotters` into
//! a PNG or an SVG that is written atomically.
//!
//! The text is drawn with a font built into the binary (`assets/DejaVuSans-subset.ttf`, ASCII
//! and Latin-1 only), so a PNG looks the same on every machine and needs no system font
//! library. Deliberately not done: interactive or live-updating plots, styling options
//! beyond size, and formats other than PNG and SVG.

pub mod chart;
pub mod forecast;
pub mod metrics;

use std::path::Path;

use crate::error::{Error, Result};

/// The picture format, from the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// `.png` or `.svg` (any case); anything else is an error naming the path.
    pub fn from_path(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(Error::BadConfig {
                field: "output".into(),
                value: path.display().to_string(),
                reason: "the picture's name must end in .png or .svg".into(),
            }),
        }
    }
}

/// A `WIDTHxHEIGHT` size in pixels, e.g. `1000x600`; each side 100..=10000.
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let bad =
        |reason: &str| Error::BadConfig { field: "size".into(), value: s.into(), reason: reason.into() };
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| bad("expected WIDTHxHEIGHT, e.g. 1000x600"))?;
    let side = |v: &str| v.trim().parse::<u32>().ok().filter(|v| (100..=10_000).contains(v));
    match (side(w), side(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(bad("each side must be a whole number of pixels from 100 to 10000")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.png")).unwrap(), Format::Png);
        assert_eq!(Format::from_path(Path::new("b.SVG")).unwrap(), Format::Svg);
        let e = Format::from_path(Path::new("b.jpg")).unwrap_err().to_string();
        assert!(e.contains("b.jpg") && e.contains(".png or .svg"), "{e}");
        assert!(Format::from_path(Path::new("png")).is_err());
    }

    #[test]
    fn size_is_checked() {
        assert_eq!(parse_size("1000x600").unwrap(), (1000, 600));
        assert_eq!(parse_size("320X240").unwrap(), (320, 240));
        for bad in ["1000", "0x600", "99x600", "1000x", "ax600", "20000x600"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
