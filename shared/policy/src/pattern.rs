//! The `*` / `?` wildcards of policy actions, resources and principals. Matching a
//! request against a statement needs `matches`; asking whether a statement could touch
//! some of the requests a grant allows (is a Deny in the way?) needs `overlaps` and
//! `covers`, which compare two patterns.

/// Whether `text` matches `pattern`: `*` is any run of characters (also `/` and `:`),
/// `?` exactly one.
pub fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and how much text it has taken, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// `matches` ignoring ASCII case, as actions are compared.
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

/// Whether some string matches both patterns. Memory is two rows of `b`'s length,
/// whatever the patterns' lengths.
pub fn overlaps(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // row[j], for the current i: the first i characters of a and the first j of b
    // can describe the same string.
    let mut row = vec![false; b.len() + 1];
    row[0] = true;
    for i in 0..=a.len() {
        let mut next = vec![false; b.len() + 1];
        for j in 0..=b.len() {
            if !row[j] {
                continue;
            }
            let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
            if ca == Some('*') {
                // a's star ends here, or takes b's next character (a star of b takes it
                // too: both empty is covered by each ending).
                next[j] = true;
                if j < b.len() {
                    row[j + 1] = true;
                }
            }
            if cb == Some('*') {
                row[j + 1] = true;
                if i < a.len() {
                    next[j] = true;
                }
            }
            if let (Some(x), Some(y)) = (ca, cb) {
                if x != '*' && y != '*' && (x == y || x == '?' || y == '?') {
                    next[j + 1] = true;
                }
            }
        }
        if i == a.len() {
            return row[b.len()];
        }
        row = next;
    }
    unreachable!("the loop returns at its last row")
}

/// Whether every string matching `inner` also matches `outer` (sound, not complete:
/// a `false` may be a pair too clever for this check). Memory is two rows of
/// `inner`'s length.
pub fn covers(outer: &str, inner: &str) -> bool {
    let outer: Vec<char> = outer.chars().collect();
    let inner: Vec<char> = inner.chars().collect();
    // row[j], for the current i: outer[..i] covers inner[..j].
    let mut row = vec![false; inner.len() + 1];
    row[0] = true;
    for i in 0..=outer.len() {
        let mut next = vec![false; inner.len() + 1];
        for j in 0..=inner.len() {
            if !row[j] {
                continue;
            }
            let following = inner.get(j).copied();
            match outer.get(i).copied() {
                Some('*') => {
                    next[j] = true;
                    if following.is_some() {
                        // outer's star swallows anything inner can produce there.
                        row[j + 1] = true;
                    }
                }
                // `?` covers one character, and inner's `?` (one character), not `*`.
                Some('?') if following.is_some_and(|c| c != '*') => next[j + 1] = true,
                Some(c) if c != '*' && c != '?' && following == Some(c) => next[j + 1] = true,
                _ => {}
            }
        }
        if i == outer.len() {
            return row[inner.len()];
        }
        row = next;
    }
    unreachable!("the loop returns at its last row")
}

/// `overlaps` for ARNs (`acs:...` in 5 fields, `arn:...` in 6): field by field, since a
/// real ARN has no `:` in its region or account, so `acs:oss:*:1:dst` cannot reach into
/// `acs:oss:*:1:other/*`. Other text is compared whole.
pub fn arn_overlaps(a: &str, b: &str) -> bool {
    match (arn_fields(a), arn_fields(b)) {
        (Some(a), Some(b)) if a.len() == b.len() => a.iter().zip(&b).all(|(x, y)| overlaps(x, y)),
        _ => overlaps(a, b),
    }
}

/// `covers` for ARNs, field by field like `arn_overlaps`.
pub fn arn_covers(outer: &str, inner: &str) -> bool {
    match (arn_fields(outer), arn_fields(inner)) {
        (Some(o), Some(i)) if o.len() == i.len() => o.iter().zip(&i).all(|(x, y)| covers(x, y)),
        _ => covers(outer, inner),
    }
}

fn arn_fields(text: &str) -> Option<Vec<&str>> {
    let count = if text.starts_with("acs:") {
        5
    } else if text.starts_with("arn:") {
        6
    } else {
        return None;
    };
    let fields: Vec<&str> = text.splitn(count, ':').collect();
    (fields.len() == count).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "acs:oss:*:1:b/k", true),
            ("oss:Get*", "oss:GetObject", true),
            ("oss:Get*", "oss:PutObject", false),
            ("b/*", "b/", true),
            ("b/*", "b", false),
            ("b/?", "b/x", true),
            ("b/?", "b/xy", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a*a", "aaaa", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(matches(pattern, text), expected, "{pattern} vs {text}");
        }
        assert!(matches_ignore_case("OSS:getobject", "oss:GetObject"));
        assert!(!matches("OSS:getobject", "oss:GetObject"));
    }

    #[test]
    fn overlapping_patterns() {
        for (a, b, expected) in [
            ("b/secret/*", "b/*", true),
            ("b/logs/*", "b/data/*", false),
            ("b/*", "b", false),
            ("*", "x", true),
            ("a?c", "a*", true),
            ("*x", "y*", true),
            ("abc", "abd", false),
            ("acs:oss:*:*:dst/*", "acs:oss:*:2:dst/logs/*", true),
        ] {
            assert_eq!(overlaps(a, b), expected, "{a} vs {b}");
            assert_eq!(overlaps(b, a), expected, "{b} vs {a}");
        }
    }

    #[test]
    fn arns_compare_field_by_field() {
        assert!(overlaps("acs:oss:*:1:dst", "acs:oss:*:1:dst/*"), "plain glob spans ':'");
        assert!(!arn_overlaps("acs:oss:*:1:dst", "acs:oss:*:1:dst/*"), "bucket is not object");
        assert!(overlaps("acs:oss:*:1:dst/*", "acs:oss:*:1:other/*"), "plain glob spans ':'");
        assert!(!arn_overlaps("acs:oss:*:1:dst/*", "acs:oss:*:1:other/*"));
        assert!(arn_overlaps("acs:oss:*:*:dst/secret/*", "acs:oss:*:1:dst/*"));
        assert!(!arn_overlaps("arn:aws:s3:::dst", "arn:aws:s3:::dst/*"));
        assert!(arn_overlaps("*", "arn:aws:s3:::dst/*"));
        assert!(arn_covers("acs:oss:*:*:dst/*", "acs:oss:*:1:dst/logs/*"));
        assert!(!arn_covers("acs:oss:cn-hangzhou:1:dst/*", "acs:oss:*:1:dst/*"));
    }

    #[test]
    fn covering_patterns() {
        for (outer, inner, expected) in [
            ("b/*", "b/logs/*", true),
            ("b/logs/*", "b/*", false),
            ("a?", "a*", false),
            ("*", "anything*", true),
            ("a*c", "a*", false),
            ("abc", "abc", true),
        ] {
            assert_eq!(covers(outer, inner), expected, "{outer} covers {inner}");
        }
    }
}
