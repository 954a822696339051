//! The merge join of two sorted listings, like rclone's march: walk source and
//! destination side by side and say, per key, what the destination lacks, holds
//! the same, holds differently, or holds extra. Pure; the driver feeds it a page
//! of the source and the destination entries up to that page's last key.

use std::cmp::Ordering;

pub use crate::object::Listed;

/// What one key needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diff {
    /// In the source only.
    Missing(Listed),
    /// Same size and ETag on both sides.
    Same(Listed),
    /// On both sides, but size or ETag differ (the replica may still record the
    /// source ETag after a different part layout; the driver checks that).
    Different { source: Listed, replica: Listed },
    /// In the destination only.
    Extra(Listed),
}

/// Matches a page of source entries against the destination entries that fall up
/// to its last key. Both must be sorted by key (S3 and OSS list in UTF-8 byte order,
/// which is `str`'s order). Destination entries past the page are not taken.
pub fn march(source: &[Listed], replicas: &mut Vec<Listed>, through_end: bool) -> Vec<Diff> {
    let last = source.last().map(|l| l.key.as_str());
    let mut out = Vec::with_capacity(source.len() + replicas.len());
    let mut r = 0;
    for s in source {
        while r < replicas.len() && replicas[r].key.as_str() < s.key.as_str() {
            out.push(Diff::Extra(replicas[r].clone()));
            r += 1;
        }
        if r < replicas.len() && replicas[r].key == s.key {
            let d = &replicas[r];
            if d.size == s.size && d.etag == s.etag {
                out.push(Diff::Same(s.clone()));
            } else {
                out.push(Diff::Different { source: s.clone(), replica: d.clone() });
            }
            r += 1;
        } else {
            out.push(Diff::Missing(s.clone()));
        }
    }
    // Destination keys after the last source key belong to the next page, unless
    // the source is exhausted.
    while r < replicas.len()
        && (through_end || last.is_some_and(|l| replicas[r].key.as_str().cmp(l) != Ordering::Greater))
    {
        out.push(Diff::Extra(replicas[r].clone()));
        r += 1;
    }
    replicas.drain(..r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(key: &str, size: u64, etag: &str) -> Listed {
        Listed { key: key.into(), size, etag: etag.into(), modified: None }
    }

    fn keys(diffs: &[Diff]) -> Vec<String> {
        diffs
            .iter()
            .map(|d| match d {
                Diff::Missing(x) => format!("missing {}", x.key),
                Diff::Same(x) => format!("same {}", x.key),
                Diff::Different { source, .. } => format!("different {}", source.key),
                Diff::Extra(x) => format!("extra {}", x.key),
            })
            .collect()
    }

    #[test]
    fn every_case_in_one_page() {
        let src = vec![l("a", 1, "x"), l("b", 1, "x"), l("c", 2, "y"), l("e", 1, "x")];
        let mut dst = vec![l("a", 1, "x"), l("b", 1, "z"), l("d", 1, "x"), l("e", 9, "x"), l("f", 1, "x")];
        let diffs = march(&src, &mut dst, false);
        assert_eq!(keys(&diffs), ["same a", "different b", "missing c", "extra d", "different e"]);
        assert_eq!(dst, vec![l("f", 1, "x")], "f belongs to the next page");
        let rest = march(&[], &mut dst, true);
        assert_eq!(keys(&rest), ["extra f"]);
        assert!(dst.is_empty());
    }

    #[test]
    fn pages_resume_where_they_stopped() {
        let mut dst = vec![l("a", 1, "x"), l("c", 1, "x"), l("d", 1, "x")];
        let first = march(&[l("a", 1, "x"), l("b", 1, "x")], &mut dst, false);
        assert_eq!(keys(&first), ["same a", "missing b"]);
        let second = march(&[l("c", 1, "x")], &mut dst, true);
        assert_eq!(keys(&second), ["same c", "extra d"]);
    }

    #[test]
    fn empty_sides() {
        let mut dst = Vec::new();
        assert_eq!(keys(&march(&[l("a", 1, "x")], &mut dst, true)), ["missing a"]);
        let mut dst = vec![l("a", 1, "x")];
        assert_eq!(keys(&march(&[], &mut dst, true)), ["extra a"]);
    }

    #[test]
    fn byte_order_not_locale_order() {
        // Uppercase sorts before lowercase, '/' before letters, multi-byte last.
        let src = vec![l("B", 1, "x"), l("a/b", 1, "x"), l("ab", 1, "x"), l("é", 1, "x")];
        let mut dst = src.clone();
        let diffs = march(&src, &mut dst, true);
        assert!(diffs.iter().all(|d| matches!(d, Diff::Same(_))), "{diffs:?}");
    }
}
