//! What a backfill invocation asks for: the Timer trigger's event (its payload is
//! a request as JSON text) or a manual request.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// What a pass does with what it finds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Copy what the destination lacks; never overwrite.
    #[default]
    Missing,
    /// Also copy what differs (size or ETag).
    Changed,
    /// Report only.
    Verify,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Missing => "missing",
            Mode::Changed => "changed",
            Mode::Verify => "verify",
        })
    }
}

/// One shard of `count`, numbered from 0: `"2/8"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl<'de> Deserialize<'de> for ShardSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = text
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
        match parsed {
            Some((index, count)) if count >= 1 && index < count && count <= 256 => Ok(ShardSpec { index, count }),
            _ => Err(serde::de::Error::custom(format!(
                "shard {text:?} is not valid; expected \"INDEX/COUNT\" with 0 <= INDEX < COUNT <= 256, e.g. \"0/8\""
            ))),
        }
    }
}

/// A manual (or timer) backfill request. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Request {
    /// Only this rule (by id); default: every rule with historical replication.
    pub rule: Option<String>,
    /// Only keys under this prefix (within the rule's prefixes).
    pub prefix: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// Count and report, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Stop cleanly after this long (and continue on the next run).
    pub time_budget_seconds: Option<u64>,
    /// Also delete destination replicas whose source is gone (rules with action
    /// ALL only, crr's replicas only).
    #[serde(default)]
    pub mirror: bool,
    /// Also compare what travels with objects whose size and ETag agree (headers,
    /// metadata, tags: a HEAD of each side, and their tags when tagged), and bring
    /// it in line: repairs metadata and tag changes whose events were lost.
    #[serde(default)]
    pub deep: bool,
    /// Run the key space as this many shards in parallel.
    pub shards: Option<u32>,
    /// Run only this shard.
    pub shard: Option<ShardSpec>,
    /// Start over instead of resuming from the checkpoint.
    #[serde(default)]
    pub restart: bool,
}

/// How the function was triggered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Timer { name: String, time: String },
    Manual,
}

/// A decoded backfill invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillEvent {
    pub trigger: Trigger,
    pub request: Request,
}

pub const EXPECTED_SHAPE: &str = "a backfill request such as {\"rule\": \"default\", \"prefix\": \"logs/\", \
\"mode\": \"missing\" | \"changed\" | \"verify\", \"dryRun\": false, \"timeBudgetSeconds\": 600, \"mirror\": false, \"deep\": false, \
\"shards\": 4, \"shard\": \"0/4\", \"restart\": false} (every field optional), or a Timer trigger event whose payload is such a request";

impl BackfillEvent {
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(map) = &value else {
            return Err(format!("the event is not a JSON object; expected {EXPECTED_SHAPE}"));
        };
        if map.contains_key("triggerTime") || map.contains_key("triggerName") {
            let name = map.get("triggerName").and_then(Value::as_str).unwrap_or("timer").to_owned();
            let time = map.get("triggerTime").and_then(Value::as_str).unwrap_or_default().to_owned();
            let request = match map.get("payload") {
                None | Some(Value::Null) => Request::default(),
                Some(Value::String(s)) if s.trim().is_empty() => Request::default(),
                Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| {
                    format!("the Timer trigger's payload {s:?} is not a valid request: {e}; expected {EXPECTED_SHAPE}")
                })?,
                Some(other) => serde_json::from_value(other.clone()).map_err(|e| {
                    format!("the Timer trigger's payload is not a valid request: {e}; expected {EXPECTED_SHAPE}")
                })?,
            };
            return Ok(BackfillEvent { trigger: Trigger::Timer { name, time }, request });
        }
        let request = serde_json::from_value(value)
            .map_err(|e| format!("invalid backfill request: {e}; expected {EXPECTED_SHAPE}"))?;
        Ok(BackfillEvent { trigger: Trigger::Manual, request })
    }
}

impl<'de> Deserialize<'de> for BackfillEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BackfillEvent::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<BackfillEvent, String> {
        BackfillEvent::from_value(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn timer_events_carry_a_request_in_their_payload() {
        let e = parse(r#"{"triggerTime":"2026-11-25T07:49:00Z","triggerName":"backfill-timer","payload":"{\"mode\":\"changed\"}"}"#).unwrap();
        assert_eq!(e.trigger, Trigger::Timer { name: "backfill-timer".into(), time: "2026-11-25T07:49:00Z".into() });
        assert_eq!(e.request.mode, Mode::Changed);
        let e = parse(r#"{"triggerTime":"t","triggerName":"n","payload":""}"#).unwrap();
        assert_eq!(e.request, Request::default());
    }

    #[test]
    fn manual_requests() {
        let e = parse(
            r#"{"rule":"r1","prefix":"logs/","mode":"verify","dryRun":true,"timeBudgetSeconds":30,"shard":"1/4"}"#,
        )
        .unwrap();
        assert_eq!(e.trigger, Trigger::Manual);
        assert_eq!(e.request.rule.as_deref(), Some("r1"));
        assert_eq!(e.request.mode, Mode::Verify);
        assert!(e.request.dry_run);
        assert_eq!(e.request.shard, Some(ShardSpec { index: 1, count: 4 }));
        assert_eq!(parse("{}").unwrap().request, Request::default());
    }

    #[test]
    fn invalid_requests_show_the_expected_shape() {
        for (json, want) in [
            (r#"{"mode":"everything"}"#, "unknown variant `everything`"),
            (r#"{"dryrun":true}"#, "unknown field `dryrun`"),
            (r#"{"shard":"4/4"}"#, "expected \"INDEX/COUNT\""),
            (r#"[1]"#, "not a JSON object"),
            (r#"{"triggerTime":"t","triggerName":"n","payload":"not json"}"#, "Timer trigger's payload"),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
            assert!(err.contains("\"mode\": \"missing\""), "{err}");
        }
    }
}
