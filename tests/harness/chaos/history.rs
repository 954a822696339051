//! The chaos test's history: what the user does to the source, drawn from a seed
//! before the run starts (so a failing run can be replayed and shrunk), and the
//! model of what the source holds after each operation.

use std::collections::BTreeMap;
use std::fmt;

/// Which bucket an operation writes: the source, or for a two-way pair either side.
pub type Side = usize;

/// One thing the user does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new object, or an overwrite: `size` bytes drawn from `salt`, with the
    /// headers and metadata of variant `meta`.
    Put {
        side: Side,
        key: usize,
        size: usize,
        salt: u64,
        meta: usize,
    },
    /// A two-part upload (5 MiB and a tail), completed.
    Multipart {
        side: Side,
        key: usize,
        salt: u64,
        meta: usize,
    },
    Delete {
        side: Side,
        key: usize,
    },
    /// A copy of the object onto itself with the headers and metadata of variant `meta`.
    CopyMeta {
        side: Side,
        key: usize,
        meta: usize,
    },
    /// New tags: variant `tags`.
    Tag {
        side: Side,
        key: usize,
        tags: usize,
    },
}

impl Op {
    pub fn key(&self) -> usize {
        match *self {
            Op::Put { key, .. }
            | Op::Multipart { key, .. }
            | Op::Delete { key, .. }
            | Op::CopyMeta { key, .. }
            | Op::Tag { key, .. } => key,
        }
    }

    pub fn side(&self) -> Side {
        match *self {
            Op::Put { side, .. }
            | Op::Multipart { side, .. }
            | Op::Delete { side, .. }
            | Op::CopyMeta { side, .. }
            | Op::Tag { side, .. } => side,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: Side| ["A", "B"].get(s).copied().unwrap_or("?");
        match self {
            Op::Put { side: s, key, size, salt, meta } => {
                write!(f, "put {} {} ({size} bytes, salt {salt}, meta {meta})", side(*s), key_name(*key))
            }
            Op::Multipart { side: s, key, salt, meta } => {
                write!(f, "multipart {} {} (salt {salt}, meta {meta})", side(*s), key_name(*key))
            }
            Op::Delete { side: s, key } => write!(f, "delete {} {}", side(*s), key_name(*key)),
            Op::CopyMeta { side: s, key, meta } => {
                write!(f, "copy-metadata {} {} (meta {meta})", side(*s), key_name(*key))
            }
            Op::Tag { side: s, key, tags } => write!(f, "tag {} {} (tags {tags})", side(*s), key_name(*key)),
        }
    }
}

/// The key of key number `n`: mostly plain, some with spaces and non-ASCII letters.
pub fn key_name(n: usize) -> String {
    match n % 7 {
        3 => format!("chaos/with space/{n:04}.txt"),
        5 => format!("chaos/ünï/{n:04}"),
        _ => format!("chaos/k{n:04}"),
    }
}

/// Headers and user metadata of variant `n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub content_type: String,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub user: BTreeMap<String, String>,
}

pub fn meta(n: usize) -> Meta {
    // Not application/octet-stream: seaweedfs answers with a type guessed from the
    // key's extension for objects stored with it.
    let types = ["text/plain", "application/x-crr-test", "image/png", "application/json"];
    Meta {
        content_type: types[n % types.len()].to_owned(),
        cache_control: (n % 3 == 1).then(|| format!("max-age={}", 60 * (n % 5 + 1))),
        content_disposition: (n % 4 == 2).then(|| format!("attachment; filename=\"f{n}.bin\"")),
        user: (0..n % 3).map(|i| (format!("m{i}"), format!("v{n}-{i}"))).collect(),
    }
}

/// Tag set of variant `n`.
pub fn tags(n: usize) -> BTreeMap<String, String> {
    (0..n % 4).map(|i| (format!("t{i}"), format!("{n}"))).collect()
}

/// What the history may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub sides: usize,
    /// Deletes and tag changes (not for two-way pairs: see docs/RELIABILITY.md).
    pub deletes_and_tags: bool,
    pub multipart: bool,
}

/// `n` operations on `keys` keys, drawn from `seed`. Copies of metadata and tag
/// changes go to keys the history has written and not deleted since.
pub fn generate(seed: u64, n: usize, keys: usize, mix: Mix) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut present = vec![vec![false; keys]; mix.sides];
    let mut ops = Vec::with_capacity(n);
    while ops.len() < n {
        let side = rng.usize(0..mix.sides);
        let key = rng.usize(0..keys);
        let roll = rng.u32(0..100);
        let op = match roll {
            0..=2 if mix.multipart => Op::Multipart { side, key, salt: rng.u64(..), meta: rng.usize(0..12) },
            0..=19 if mix.deletes_and_tags => Op::Delete { side, key },
            20..=31 if present[side][key] => Op::CopyMeta { side, key, meta: rng.usize(0..12) },
            32..=43 if mix.deletes_and_tags && present[side][key] => Op::Tag { side, key, tags: rng.usize(0..8) },
            _ => {
                let size = match rng.u32(0..10) {
                    0 => 0,
                    1..=6 => rng.usize(1..4096),
                    _ => rng.usize(4096..96 * 1024),
                };
                Op::Put { side, key, size, salt: rng.u64(..), meta: rng.usize(0..12) }
            }
        };
        present[side][key] = !matches!(op, Op::Delete { .. });
        ops.push(op);
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_are_reproducible_and_only_touch_what_exists() {
        let mix = Mix { sides: 1, deletes_and_tags: true, multipart: true };
        let a = generate(7, 500, 10, mix);
        assert_eq!(a, generate(7, 500, 10, mix));
        assert_ne!(a, generate(8, 500, 10, mix));
        let mut present = [false; 10];
        for op in &a {
            if matches!(op, Op::CopyMeta { .. } | Op::Tag { .. }) {
                assert!(present[op.key()], "{op} on a key that is not there");
            }
            present[op.key()] = !matches!(op, Op::Delete { .. });
        }
        let two_way = generate(7, 500, 10, Mix { sides: 2, deletes_and_tags: false, multipart: false });
        assert!(two_way.iter().all(|op| matches!(op, Op::Put { .. } | Op::CopyMeta { .. })));
        assert!(two_way.iter().any(|op| op.side() == 1));
    }
}
