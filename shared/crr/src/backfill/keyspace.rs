//! Key arithmetic for planning: where a key sits between two others, how wide a
//! stretch of the key space is, and a key part of the way from one key to another.
//!
//! Keys are ordered as S3 and OSS list them, by UTF-8 bytes, which is the order of
//! their code points. A key is read as a number whose digits are the characters
//! seen so far ([`Alphabet`]), after the prefix two keys share, so widths of
//! stretches that differ only far down a long key stay comparable (they are kept as
//! logarithms). Keys made
//! here are real strings (no surrogates, no control characters), so they can be sent
//! as `start-after`; every key made is checked to lie strictly between its ends.

/// The characters seen in keys so far, in order: the digits keys are read in.
///
/// Digit 0 is the end of a key, digits 1.. the characters seen, in order, and the
/// digit past them ends a prefix's stretch; a character not seen counts as the next
/// one seen above it. Reading keys in the alphabet they use (16 characters for hex
/// names, a few dozen for paths) keeps positions and cuts where the keys are
/// instead of spread over all of Unicode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alphabet {
    chars: Vec<char>,
}

impl Alphabet {
    /// Adds the characters of `key`.
    pub fn learn(&mut self, key: &str) {
        for c in key.chars() {
            if let Err(at) = self.chars.binary_search(&c) {
                self.chars.insert(at, c);
            }
        }
    }

    fn base(&self) -> u64 {
        self.chars.len() as u64 + 2
    }

    fn end(&self) -> u64 {
        self.base() - 1
    }

    fn digit(&self, c: char) -> u64 {
        match self.chars.binary_search(&c) {
            Ok(i) | Err(i) => i as u64 + 1,
        }
    }

    /// The character of digit `d`, if it is one.
    fn char_of(&self, d: u64) -> Option<char> {
        d.checked_sub(1).and_then(|i| self.chars.get(i as usize).copied())
    }

    /// Digits read at once: as many as an `f64` resolves.
    fn resolution(&self) -> usize {
        ((50.0 / (self.base() as f64).log2()) as usize).max(2)
    }
}

/// Where a stretch starts or ends: a key, or the very start or end of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound<'a> {
    /// Before every key under the prefix.
    Start(&'a str),
    Key(&'a str),
    /// After every key under the prefix.
    End(&'a str),
}

impl Bound<'_> {
    fn digits(&self, alphabet: &Alphabet) -> Vec<u64> {
        match self {
            Bound::Start(p) | Bound::Key(p) => p.chars().map(|c| alphabet.digit(c)).collect(),
            Bound::End(p) => p.chars().map(|c| alphabet.digit(c)).chain(std::iter::once(alphabet.end())).collect(),
        }
    }
}

fn common(a: &[u64], b: &[u64]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The value of the digits from `at`, as a fraction of one digit at `at - 1`.
fn value(d: &[u64], at: usize, alphabet: &Alphabet) -> f64 {
    let base = alphabet.base() as f64;
    let mut v = 0.0;
    let mut scale = 1.0 / base;
    for i in 0..alphabet.resolution() {
        v += d.get(at + i).copied().unwrap_or(0) as f64 * scale;
        scale /= base;
    }
    v
}

/// The natural logarithm of the width of the stretch from `a` to `b` (`a < b`), in
/// units where a whole prefix's stretch is 1. Comparable across stretches of any depth.
pub fn log_width(a: &Bound<'_>, b: &Bound<'_>, alphabet: &Alphabet) -> f64 {
    let (da, db) = (a.digits(alphabet), b.digits(alphabet));
    let p = common(&da, &db);
    let diff = (value(&db, p, alphabet) - value(&da, p, alphabet)).max(f64::MIN_POSITIVE);
    diff.ln() - p as f64 * (alphabet.base() as f64).ln()
}

/// `width(a, b) / width(c, d)`, computed without over- or underflow in between.
pub fn width_ratio(a: &Bound<'_>, b: &Bound<'_>, c: &Bound<'_>, d: &Bound<'_>, alphabet: &Alphabet) -> f64 {
    (log_width(a, b, alphabet) - log_width(c, d, alphabet)).exp()
}

/// A key `fraction` (0..1) of the way from `a` to `b`, strictly between them, or
/// `None` when no printable key fits (the two are adjacent).
pub fn key_between(a: &Bound<'_>, b: &Bound<'_>, fraction: f64, alphabet: &Alphabet) -> Option<String> {
    let (da, db) = (a.digits(alphabet), b.digits(alphabet));
    let p = common(&da, &db);
    let base = alphabet.base() as u128;
    let fraction = fraction.clamp(0.0, 1.0);
    let prefix: String = match a {
        Bound::Start(s) | Bound::Key(s) | Bound::End(s) => s.chars().take(p).collect(),
    };
    // Read more digits until the stretch is wide enough to place a key in it.
    for digits in 1..=12usize {
        let read = |d: &[u64]| -> u128 {
            (0..digits).fold(0u128, |acc, i| acc * base + d.get(p + i).copied().unwrap_or(0) as u128)
        };
        let (va, vb) = (read(&da), read(&db));
        // Too coarse to place the key where asked: read another digit.
        if vb <= va + 1 || ((vb - va) as f64 * fraction < 1.0 && digits < 12) {
            continue;
        }
        let step = ((vb - va) as f64 * fraction) as u128;
        let mut m = (va + step.max(1)).min(vb - 1);
        let mut out: Vec<u64> = vec![0; digits];
        for slot in out.iter_mut().rev() {
            *slot = (m % base) as u64;
            m /= base;
        }
        while out.last() == Some(&0) {
            out.pop();
        }
        let tail: Option<String> = out.iter().map(|&d| alphabet.char_of(d)).collect();
        if let Some(key) = tail.map(|t| format!("{prefix}{t}")).filter(|k| strictly_between(k, a, b)) {
            return Some(key);
        }
    }
    None
}

/// True when `a < key < b` in listing order.
pub fn strictly_between(key: &str, a: &Bound<'_>, b: &Bound<'_>) -> bool {
    // The start of a prefix comes just before the prefix itself, which is a key under it.
    let above = match a {
        Bound::Start(p) => key >= *p,
        Bound::Key(k) => key > *k,
        Bound::End(p) => !key.starts_with(p) && key > *p,
    };
    let below = match b {
        Bound::Start(p) => key < *p,
        Bound::Key(k) => key < *k,
        Bound::End(p) => key.starts_with(p) || key < *p,
    };
    above && below
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alphabet(keys: &[&str]) -> Alphabet {
        let mut a = Alphabet::default();
        for k in keys {
            a.learn(k);
        }
        a
    }

    #[test]
    fn widths_compare_stretches_at_any_depth() {
        let a = alphabet(&["logs/2026/11/0123456789", "abcxyz"]);
        let all = log_width(&Bound::Start(""), &Bound::End(""), &a);
        assert!(all.abs() < 0.05, "the whole space has width about 1: {all}");
        let deep = width_ratio(
            &Bound::Key("logs/2026/11/000100"),
            &Bound::Key("logs/2026/11/000200"),
            &Bound::Key("logs/2026/11/000"),
            &Bound::Key("logs/2026/11/001"),
            &a,
        );
        assert!(deep > 0.0 && deep < 0.1, "a hundred of a thousand is a small part: {deep}");
        let halves = width_ratio(&Bound::Key("a"), &Bound::Key("c"), &Bound::Key("a"), &Bound::Key("b"), &a);
        assert!((halves - 2.0).abs() < 1e-6, "{halves}");
        assert!(log_width(&Bound::Key("x"), &Bound::End("x"), &a) < 0.0);
    }

    #[test]
    fn keys_between_are_real_keys_strictly_inside() {
        struct Row {
            what: &'static str,
            a: Bound<'static>,
            b: Bound<'static>,
            want: Option<&'static str>,
        }
        let seen = alphabet(&["abcdefghijklmnopqrstuvwxyz", "0123456789", "logs/2026/11/", "p/"]);
        let rows = [
            Row { what: "letters", a: Bound::Key("a"), b: Bound::Key("z"), want: Some("m") },
            Row { what: "digits", a: Bound::Key("0"), b: Bound::Key("9"), want: Some("4") },
            Row {
                what: "deep in a shared prefix",
                a: Bound::Key("logs/2026/11/000100"),
                b: Bound::Key("logs/2026/11/000200"),
                want: None,
            },
            Row { what: "adjacent keys", a: Bound::Key("a"), b: Bound::Key("a\u{0}"), want: None },
            Row { what: "to the end of a prefix", a: Bound::Key("logs/x"), b: Bound::End("logs/"), want: None },
            Row { what: "from the start of a prefix", a: Bound::Start("p/"), b: Bound::Key("p/z"), want: None },
        ];
        for row in rows {
            let got = key_between(&row.a, &row.b, 0.5, &seen);
            if let Some(want) = row.want {
                assert_eq!(got.as_deref(), Some(want), "{}", row.what);
            }
            if row.what == "adjacent keys" {
                assert_eq!(got, None, "{}", row.what);
                continue;
            }
            let key = got.unwrap_or_else(|| panic!("{}: no key between", row.what));
            assert!(strictly_between(&key, &row.a, &row.b), "{}: {key:?}", row.what);
            assert!(!key.chars().any(|c| c.is_control()), "{}: {key:?}", row.what);
        }
    }

    #[test]
    fn fractions_move_the_key_in_order() {
        let seen = alphabet(&["img/0123456789abcdef"]);
        let (a, b) = (Bound::Key("img/0000"), Bound::Key("img/ffff"));
        let keys: Vec<String> =
            [0.1, 0.3, 0.5, 0.7, 0.9].iter().map(|f| key_between(&a, &b, *f, &seen).unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "increasing fractions give increasing keys");
        assert!(keys.iter().all(|k| k.chars().all(|c| "img/0123456789abcdef".contains(c))), "{keys:?}");
    }
}
