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

    /// What the march says with the sides swapped: missing and extra trade places.
    fn swapped(line: &str) -> String {
        match line.split_once(' ') {
            Some(("missing", k)) => format!("extra {k}"),
            Some(("extra", k)) => format!("missing {k}"),
            _ => line.to_owned(),
        }
    }

    struct Row {
        what: &'static str,
        source: Vec<Listed>,
        dest: Vec<Listed>,
        want: Vec<&'static str>,
    }

    #[test]
    fn whole_listings_with_sides_swapped() {
        let rows = [
            Row {
                what: "every case at once",
                source: vec![l("a", 1, "x"), l("b", 1, "x"), l("c", 2, "y"), l("e", 1, "x")],
                dest: vec![l("a", 1, "x"), l("b", 1, "z"), l("d", 1, "x"), l("e", 9, "x"), l("f", 1, "x")],
                want: vec!["same a", "different b", "missing c", "extra d", "different e", "extra f"],
            },
            Row { what: "both empty", source: vec![], dest: vec![], want: vec![] },
            Row { what: "an empty destination", source: vec![l("a", 1, "x")], dest: vec![], want: vec!["missing a"] },
            Row {
                what: "identical",
                source: vec![l("a", 1, "x"), l("b", 2, "y")],
                dest: vec![l("a", 1, "x"), l("b", 2, "y")],
                want: vec!["same a", "same b"],
            },
            Row {
                what: "interleaved keys",
                source: vec![l("a", 1, "x"), l("c", 1, "x"), l("e", 1, "x")],
                dest: vec![l("b", 1, "x"), l("d", 1, "x"), l("f", 1, "x")],
                want: vec!["missing a", "extra b", "missing c", "extra d", "missing e", "extra f"],
            },
        ];
        for row in rows {
            let mut dest = row.dest.clone();
            let diffs = march(&row.source, &mut dest, true);
            assert_eq!(keys(&diffs), row.want, "{}", row.what);
            assert!(dest.is_empty(), "{}: everything taken through the end", row.what);

            let mut source = row.source.clone();
            let back = march(&row.dest, &mut source, true);
            let want: Vec<String> = row.want.iter().map(|w| swapped(w)).collect();
            assert_eq!(keys(&back), want, "{} (sides swapped)", row.what);
        }
    }

    #[test]
    fn destination_keys_past_the_page_wait_for_the_next() {
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
    fn byte_order_not_locale_order() {
        // Uppercase sorts before lowercase, '/' before letters, multi-byte last.
        let src = vec![l("B", 1, "x"), l("a/b", 1, "x"), l("ab", 1, "x"), l("é", 1, "x")];
        let mut dst = src.clone();
        let diffs = march(&src, &mut dst, true);
        assert!(diffs.iter().all(|d| matches!(d, Diff::Same(_))), "{diffs:?}");
    }
}
