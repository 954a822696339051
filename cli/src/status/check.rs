//! `crr status --check`: one line per rule against its lag objective and an exit
//! code for cron or a monitor: 0 when every rule meets its objective (or copied
//! nothing to judge in the window), 1 when a rule misses it, 2 when a rule's
//! status cannot be read (it cannot be vouched for).

use crr::objective::State;
use crr::status::RuleStatus;

/// What `--check` prints and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: i32,
    pub text: String,
}

pub fn check(rules: &[RuleStatus]) -> Verdict {
    let mut text = String::new();
    let (mut missed, mut unreadable) = (0, 0);
    for r in rules {
        // Without the activity reports there is no lag to judge.
        let blind = r.problems.iter().find(|p| matches!(p.part, "role" | "activity"));
        match (blind, r.objective.state) {
            (Some(p), _) => {
                unreadable += 1;
                let fix = p.fix.as_deref().map(|f| format!("; fix: {f}")).unwrap_or_default();
                text.push_str(&format!("UNREADABLE rule {}: cannot read {}: {}{fix}\n", r.rule, p.what, p.reason));
            }
            (None, State::Missed) => {
                missed += 1;
                text.push_str(&format!("MISSED rule {}: {}\n", r.rule, r.objective.describe()));
            }
            (None, _) => text.push_str(&format!("OK rule {}: {}\n", r.rule, r.objective.describe())),
        }
    }
    let code = if missed > 0 {
        1
    } else if unreadable > 0 {
        2
    } else {
        0
    };
    Verdict { code, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::text::tests::rule;

    #[test]
    fn exit_codes_and_lines() {
        let ok = rule("fast", 600, 850, 40);
        let missed = rule("slow", 3, 5_240, 2);
        let idle = rule("idle", 600, 0, 0);
        let v = check(&[ok.clone(), idle.clone()]);
        assert_eq!(v.code, 0, "{}", v.text);
        assert!(
            v.text.contains("OK rule fast: lag p99 over the last 10 minutes is 850 ms (40 copies), within"),
            "{}",
            v.text
        );
        assert!(v.text.contains("OK rule idle: no copies measured"), "{}", v.text);
        let v = check(&[ok.clone(), missed]);
        assert_eq!(v.code, 1);
        assert!(
            v.text.contains("MISSED rule slow: lag p99 over the last 10 minutes is 5.2 s (2 copies), 2.2 s over the objective of 3 s"),
            "{}",
            v.text
        );
        let mut blind = ok;
        blind.problems.push(crr::status::Problem {
            part: "activity",
            what: "lag, copies and failures (activity reports under .crr/status/)".into(),
            error_type: "AccessDenied".into(),
            reason: "listing dst/.crr/status/fast/: Access Denied".into(),
            fix: Some("grant s3:ListBucket on dst".into()),
            permission: true,
        });
        let v = check(&[blind, idle]);
        assert_eq!(v.code, 2);
        assert!(
            v.text.contains("UNREADABLE rule fast: cannot read lag, copies and failures")
                && v.text.contains("fix: grant s3:ListBucket on dst"),
            "{}",
            v.text
        );
    }
}
