//! A synthetic skewed key space of any size, never held in memory: the key of any
//! rank is computed, and the rank of any key found by binary search, so a billion
//! keys cost nothing to hold and a listing page costs a page of formatting.

/// Keys `prefix` + a number, formatted to sort in number order.
#[derive(Debug, Clone)]
pub struct Group {
    pub prefix: String,
    pub count: u64,
    /// Hex names spread by a stride (like hashed names), or zero-padded decimals.
    pub hex_stride: Option<u64>,
}

impl Group {
    fn key(&self, i: u64) -> String {
        match self.hex_stride {
            Some(stride) => format!("{}{:014x}", self.prefix, i * stride),
            None => format!("{}{:012}", self.prefix, i),
        }
    }
}

pub struct KeySpace {
    groups: Vec<Group>,
    /// Ranks where each group starts.
    starts: Vec<u64>,
    total: u64,
}

impl KeySpace {
    /// `groups` must have prefixes in order, none a prefix of another.
    pub fn new(groups: Vec<Group>) -> KeySpace {
        let mut starts = Vec::with_capacity(groups.len());
        let mut total = 0;
        for g in &groups {
            starts.push(total);
            total += g.count;
        }
        assert!(groups.windows(2).all(|w| w[0].prefix < w[1].prefix), "prefixes in listing order");
        KeySpace { groups, starts, total }
    }

    /// The bucket the issue describes: 99% of the keys under `logs/` (30 day
    /// prefixes), the rest in small prefixes before it and hashed names after it.
    pub fn skewed(total: u64) -> KeySpace {
        let mut groups = Vec::new();
        let small = total / 200; // 0.5% in 20 small prefixes, all before `logs/`
        for i in 0..20 {
            groups.push(Group { prefix: format!("assets/{i:02}/"), count: small / 20, hex_stride: None });
        }
        let logs = total - small - total / 200;
        for day in 1..=30u64 {
            groups.push(Group {
                prefix: format!("logs/2026/11/{day:02}/"),
                count: logs / 30 + if day == 30 { logs % 30 } else { 0 },
                hex_stride: None,
            });
        }
        groups.push(Group { prefix: "z/".into(), count: total / 200, hex_stride: Some(0x9E37_79B9) });
        KeySpace::new(groups)
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    fn group_of(&self, rank: u64) -> usize {
        self.starts.partition_point(|&s| s <= rank) - 1
    }

    /// The key of rank `rank` (0-based).
    pub fn key(&self, rank: u64) -> String {
        let g = self.group_of(rank);
        self.groups[g].key(rank - self.starts[g])
    }

    /// The throttling partition of the key of rank `rank`: its group.
    pub fn partition(&self, rank: u64) -> usize {
        self.group_of(rank)
    }

    pub fn partitions(&self) -> usize {
        self.groups.len()
    }

    /// How many keys are at or before `key`.
    pub fn rank_after(&self, key: &str) -> u64 {
        let (mut lo, mut hi) = (0u64, self.total);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid).as_str() <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// A listing page: up to `page` keys after `after`, and whether the listing ended.
    pub fn list(&self, after: Option<&str>, page: u64) -> (Vec<String>, bool) {
        let from = after.map(|a| self.rank_after(a)).unwrap_or(0);
        let to = (from + page).min(self.total);
        ((from..to).map(|r| self.key(r)).collect(), to == self.total)
    }
}
