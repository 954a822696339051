//! Shards: contiguous key ranges of one scope that run in parallel, each with its
//! own lease and checkpoint. Boundaries come from the first level of the key space
//! (`/`-delimited listing) and are stored once per scope and shard count, so every
//! invocation of a sharded backfill agrees on them.

use serde::{Deserialize, Serialize};

use super::request::ShardSpec;
use super::run::Scope;
use super::state::{short_hash, StateStore};
use crate::error::Error;
use crate::invocation::Invocation;
use crate::replicator::Replicator;
use crate::store::List;

/// Entries of the first level listed to place boundaries, at most.
const PLAN_SAMPLE: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub prefix: String,
    pub count: u32,
    /// `count + 1` bounds; shard `i` holds keys after `bounds[i]` up to `bounds[i + 1]`.
    pub bounds: Vec<Option<String>>,
}

/// Splits sorted first-level entries (keys, and common prefixes ending in `/`) into
/// `count` contiguous groups of similar size.
pub fn plan_bounds(entries: &[String], count: u32) -> Vec<Option<String>> {
    let n = count.max(1) as usize;
    let mut bounds = vec![None; n + 1];
    for (g, bound) in bounds.iter_mut().enumerate().take(n).skip(1) {
        let end = entries.len() * g / n;
        if end == 0 {
            // Fewer entries than shards: this shard and the ones before it are empty.
            *bound = Some(String::new());
            continue;
        }
        let last = &entries[end - 1];
        // A common prefix covers every key under it.
        *bound = Some(if last.ends_with('/') { format!("{last}\u{10FFFF}") } else { last.clone() });
    }
    bounds
}

fn shard_scope(scope: &Scope, plan: &Plan, index: u32) -> Scope {
    let i = index as usize;
    Scope {
        rule: scope.rule,
        prefix: scope.prefix.clone(),
        lower: plan.bounds[i].clone().filter(|b| !b.is_empty()),
        upper: plan.bounds[i + 1].clone(),
        label: format!("{} shard {}/{}", scope.label, index, plan.count),
    }
}

async fn plan(r: &Replicator, scope: &Scope, count: u32, invocation: &Invocation) -> Result<Plan, Error> {
    let rule = &r.config.rules[scope.rule];
    let engine = r.engine(scope.rule, invocation).await?;
    let store = StateStore::new(
        engine.dest.clone(),
        &rule.destination.name,
        &rule.id,
        &format!("plan-{}", short_hash(&[&scope.prefix, &count.to_string()])),
    );
    if let Some(existing) = store.load::<Plan>("plan.json").await? {
        return Ok(existing);
    }
    let mut entries = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let list =
            List { prefix: &scope.prefix, delimiter: Some("/"), continuation: token.as_deref(), ..List::default() };
        let page = r
            .source
            .list(&r.config.source.name, list)
            .await
            .map_err(|f| Error::storage("listing", &r.config.source.name, &scope.prefix, f))?;
        entries.extend(page.prefixes);
        entries.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(t) if entries.len() < PLAN_SAMPLE => token = Some(t),
            _ => break,
        }
    }
    entries.sort();
    let plan = Plan { prefix: scope.prefix.clone(), count, bounds: plan_bounds(&entries, count) };
    // The first planner's plan wins; everyone uses it.
    if store.create("plan.json", &plan).await? {
        Ok(plan)
    } else {
        Ok(store.load::<Plan>("plan.json").await?.unwrap_or(plan))
    }
}

pub async fn all_shards(
    r: &Replicator,
    scope: &Scope,
    count: u32,
    invocation: &Invocation,
) -> Result<Vec<Scope>, Error> {
    let plan = plan(r, scope, count.min(256), invocation).await?;
    Ok((0..plan.count).map(|i| shard_scope(scope, &plan, i)).collect())
}

pub async fn shard_of(r: &Replicator, scope: &Scope, spec: ShardSpec, invocation: &Invocation) -> Result<Scope, Error> {
    let plan = plan(r, scope, spec.count, invocation).await?;
    Ok(shard_scope(scope, &plan, spec.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bounds_split_the_first_level_evenly() {
        let e = entries(&["a/", "b/", "c.txt", "d/"]);
        let b = plan_bounds(&e, 2);
        assert_eq!(b, vec![None, Some("b/\u{10FFFF}".to_string()), None]);
        let b = plan_bounds(&e, 4);
        assert_eq!(b[1].as_deref(), Some("a/\u{10FFFF}"));
        assert_eq!(b[3].as_deref(), Some("c.txt"));
        assert_eq!(plan_bounds(&e, 1), vec![None, None]);
    }

    #[test]
    fn every_key_falls_in_exactly_one_shard() {
        let e = entries(&["a/", "b/", "c.txt", "d/", "e/"]);
        for count in 1..=7 {
            let bounds = plan_bounds(&e, count);
            for key in ["a/1", "a/zz/deep", "b/x", "c.txt", "d/é", "e/9", "f"] {
                let owners = (0..count as usize)
                    .filter(|&i| {
                        let above = bounds[i].as_deref().is_none_or(|l| l.is_empty() || key > l);
                        let below = bounds[i + 1].as_deref().is_none_or(|u| key <= u);
                        above && below
                    })
                    .count();
                assert_eq!(owners, 1, "{key} with {count} shards: {bounds:?}");
            }
        }
    }
}
