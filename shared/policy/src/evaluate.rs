//! Would these policies allow this request? The answer follows both clouds' rules (an
//! explicit Deny wins, nothing allowed means denied) and names the statement that
//! decided. A condition this evaluator cannot settle makes the answer "undetermined"
//! and is listed, so a guess never passes for a fact.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::model::{Condition, Effect, PatternClause, Policy, Principal, Statement, StatementRef};
use crate::pattern;

/// One request: who does what to which resource, with the condition keys known about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `oss:PutObject`, `s3:GetObject`, `sts:AssumeRole`...
    pub action: String,
    /// `acs:oss:*:<uid>:<bucket>/<key>`, `arn:aws:s3:::<bucket>/<key>`...
    pub resource: String,
    /// Who asks; needed for statements that name principals (bucket and trust policies).
    pub principal: Option<String>,
    /// Condition keys and their values, e.g. `acs:SourceIp` → `["10.0.0.1"]`.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Request {
        Request { action: action.into(), resource: resource.into(), ..Request::default() }
    }

    pub fn with_principal(mut self, principal: impl Into<String>) -> Request {
        self.principal = Some(principal.into());
        self
    }

    /// Adds a value for a condition key (several values make a multi-valued key).
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<String>) -> Request {
        self.context.entry(key.into()).or_default().push(value.into());
        self
    }

    fn context_values(&self, key: &str) -> Option<&[String]> {
        // Condition key names are case-insensitive in both clouds.
        self.context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    /// A Deny statement applies.
    ExplicitDeny,
    /// No statement allows it.
    ImplicitDeny,
    /// A statement might apply, depending on something the request does not say.
    Undetermined,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Allow => "allow",
            Outcome::ExplicitDeny | Outcome::ImplicitDeny => "deny",
            Outcome::Undetermined => "undetermined",
        })
    }
}

/// A statement of one of the evaluated policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementAt {
    /// Position of the policy in the list given to `evaluate`, from 0.
    pub policy: usize,
    pub statement: StatementRef,
}

/// A statement that might apply, and why it cannot be settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub at: StatementAt,
    pub effect: Effect,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The statement that allowed or explicitly denied; `None` for implicit deny and
    /// undetermined.
    pub decided_by: Option<StatementAt>,
    /// For undetermined: the statements that might apply and what they depend on.
    pub unresolved: Vec<Unresolved>,
    /// Assumptions made on the way, e.g. an `...IfExists` key taken as absent.
    pub assumptions: Vec<String>,
}

/// Whether one statement applies to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applies {
    Yes,
    No,
    /// It depends on these (missing condition keys, unsupported operators...).
    Unknown(Vec<String>),
}

impl Applies {
    fn and(self, other: Applies) -> Applies {
        match (self, other) {
            (Applies::No, _) | (_, Applies::No) => Applies::No,
            (Applies::Unknown(mut a), Applies::Unknown(b)) => {
                a.extend(b);
                Applies::Unknown(a)
            }
            (Applies::Unknown(a), Applies::Yes) | (Applies::Yes, Applies::Unknown(a)) => Applies::Unknown(a),
            (Applies::Yes, Applies::Yes) => Applies::Yes,
        }
    }

    fn from_bool(yes: bool) -> Applies {
        if yes {
            Applies::Yes
        } else {
            Applies::No
        }
    }
}

/// Decides a request against every statement of `policies` together: an applying Deny
/// anywhere wins, then a Deny that might apply makes the answer undetermined, then an
/// applying Allow allows; otherwise it is an implicit deny.
pub fn evaluate<'a>(policies: impl IntoIterator<Item = &'a Policy>, request: &Request) -> Decision {
    let mut first_deny = None;
    let mut first_allow = None;
    let mut unresolved = Vec::new();
    let mut assumptions = Vec::new();
    for (policy_index, policy) in policies.into_iter().enumerate() {
        for (index, statement) in policy.statements().iter().enumerate() {
            let at = StatementAt { policy: policy_index, statement: policy.statement_ref(index) };
            let (applies, assumed) = statement_applies(statement, request);
            assumptions.extend(assumed);
            match (applies, statement.effect()) {
                (Applies::Yes, Effect::Deny) => {
                    first_deny.get_or_insert(at);
                }
                (Applies::Yes, Effect::Allow) => {
                    first_allow.get_or_insert(at);
                }
                (Applies::Unknown(reasons), effect) => unresolved.push(Unresolved { at, effect, reasons }),
                (Applies::No, _) => {}
            }
        }
    }
    decide(first_deny, first_allow, unresolved, assumptions)
}

fn decide(
    first_deny: Option<StatementAt>,
    first_allow: Option<StatementAt>,
    unresolved: Vec<Unresolved>,
    assumptions: Vec<String>,
) -> Decision {
    let decision = |outcome, decided_by, unresolved| Decision {
        outcome,
        decided_by,
        unresolved,
        assumptions: assumptions.clone(),
    };
    if first_deny.is_some() {
        return decision(Outcome::ExplicitDeny, first_deny, Vec::new());
    }
    let unresolved_denies: Vec<Unresolved> = unresolved.iter().filter(|u| u.effect == Effect::Deny).cloned().collect();
    if !unresolved_denies.is_empty() {
        return decision(Outcome::Undetermined, None, unresolved_denies);
    }
    if first_allow.is_some() {
        return decision(Outcome::Allow, first_allow, Vec::new());
    }
    if !unresolved.is_empty() {
        return decision(Outcome::Undetermined, None, unresolved);
    }
    decision(Outcome::ImplicitDeny, None, Vec::new())
}

/// Whether `statement` applies to `request`, and what was assumed to decide it.
pub fn statement_applies(statement: &Statement, request: &Request) -> (Applies, Vec<String>) {
    let action = clause_applies(statement.action(), &request.action, true);
    let resource = statement.resource().map_or(Applies::Yes, |clause| clause_applies(clause, &request.resource, false));
    let principal = principal_applies(statement, request);
    let matched = action.and(resource).and(principal);
    if matched == Applies::No {
        return (Applies::No, Vec::new());
    }
    let mut assumptions = Vec::new();
    let conditions = statement
        .conditions()
        .iter()
        .map(|condition| {
            let (result, assumed) = condition_holds(condition, request);
            assumptions.extend(assumed);
            result
        })
        .fold(Applies::Yes, Applies::and);
    (matched.and(conditions), assumptions)
}

fn clause_applies(clause: &PatternClause, value: &str, ignore_case: bool) -> Applies {
    let matched = clause.patterns.iter().any(|p| {
        if ignore_case {
            pattern::matches_ignore_case(p, value)
        } else {
            pattern::matches(p, value)
        }
    });
    Applies::from_bool(matched != clause.negated)
}

fn principal_applies(statement: &Statement, request: &Request) -> Applies {
    let Some(clause) = statement.principal() else {
        // Identity policies: the statement is about whoever holds the policy.
        return Applies::Yes;
    };
    match &request.principal {
        Some(who) => Applies::from_bool(principal_matches(&clause.principal, who) != clause.negated),
        None if clause.principal.includes_anyone() && !clause.negated => Applies::Yes,
        None => Applies::Unknown(vec![format!(
            "the statement names principals ({}) and the request names none",
            clause.principal.values().join(", ")
        )]),
    }
}

/// Whether `who` (an ARN, account id or service name) is one of `principal`.
pub fn principal_matches(principal: &Principal, who: &str) -> bool {
    principal.values().iter().any(|value| principal_value_matches(value, who))
}

fn principal_value_matches(value: &str, who: &str) -> bool {
    if pattern::matches(value, who) {
        return true;
    }
    // An account (bare id, `arn:aws:iam::<id>:root`, `acs:ram::<id>:root`) stands for
    // every principal of that account.
    if let Some(account) = account_principal(value) {
        return account_of(who) == Some(account);
    }
    // An AWS role stands for its sessions: arn:aws:sts::<id>:assumed-role/<name>/<session>.
    role_of_session(who).is_some_and(|(account, name)| {
        value.split(':').nth(4) == Some(account)
            && value.contains(":iam::")
            && value
                .rsplit_once(':')
                .is_some_and(|(_, res)| res.starts_with("role/") && res.rsplit('/').next() == Some(name))
    })
}

/// The account a principal value names as a whole, if it is one.
pub(crate) fn account_principal(value: &str) -> Option<&str> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value);
    }
    let (head, account) = value.strip_suffix(":root")?.rsplit_once(':')?;
    let is_account_root = head.starts_with("acs:ram:") || (head.starts_with("arn:") && head.ends_with(":iam:"));
    (is_account_root && !account.is_empty()).then_some(account)
}

/// The account in a principal ARN: `arn:aws:iam::<id>:...`, `arn:aws:sts::<id>:...`,
/// `arn:sts::<id>:...` (OSS), `acs:ram::<id>:...`, or a bare id.
pub(crate) fn account_of(who: &str) -> Option<&str> {
    if who.bytes().all(|b| b.is_ascii_digit()) && !who.is_empty() {
        return Some(who);
    }
    let fields: Vec<&str> = who.split(':').collect();
    let account = if who.starts_with("acs:") || who.starts_with("arn:sts:") {
        fields.get(3)
    } else if who.starts_with("arn:") {
        fields.get(4)
    } else {
        None
    };
    account.copied().filter(|a| !a.is_empty())
}

/// `(account, role name)` of an AWS assumed-role session ARN.
fn role_of_session(who: &str) -> Option<(&str, &str)> {
    let fields: Vec<&str> = who.splitn(6, ':').collect();
    if fields.len() != 6 || fields[0] != "arn" || fields[2] != "sts" {
        return None;
    }
    let mut parts = fields[5].split('/');
    (parts.next() == Some("assumed-role")).then(|| parts.next()).flatten().map(|name| (fields[4], name))
}

/// A family of requests: action, resource and principal may hold wildcards, as in a
/// grant (`oss:PutObject` on `acs:oss:*:<uid>:dst/*` by `arn:sts::<uid>:assumed-role/r/*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPattern<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    /// `None`: any principal.
    pub principal: Option<&'a str>,
}

/// Whether `statement` applies to at least one request of `access`, conditions aside.
/// Used to find Deny statements in the way of a grant; errs on the side of "yes" only
/// where a NotAction/NotResource/NotPrincipal cannot be compared exactly.
pub fn may_apply(statement: &Statement, access: &AccessPattern<'_>) -> bool {
    clause_may_apply(statement.action(), access.action, true)
        && statement.resource().is_none_or(|clause| clause_may_apply(clause, access.resource, false))
        && principal_may_apply(statement, access.principal)
}

fn clause_may_apply(clause: &PatternClause, value: &str, ignore_case: bool) -> bool {
    let fold = |text: &str| {
        if ignore_case {
            text.to_ascii_lowercase()
        } else {
            text.to_owned()
        }
    };
    let value = fold(value);
    if clause.negated {
        // Applies unless every request of the family is excluded.
        !clause.patterns.iter().any(|p| pattern::arn_covers(&fold(p), &value))
    } else {
        clause.patterns.iter().any(|p| pattern::arn_overlaps(&fold(p), &value))
    }
}

fn principal_may_apply(statement: &Statement, who: Option<&str>) -> bool {
    let (Some(clause), Some(who)) = (statement.principal(), who) else {
        return true;
    };
    let values = clause.principal.values();
    let who_forms = principal_forms(who);
    let same_account = |value: &str| account_principal(value).is_some_and(|account| account_of(who) == Some(account));
    if clause.negated {
        !values.iter().any(|value| {
            same_account(value)
                || principal_forms(value).iter().any(|v| who_forms.iter().any(|w| pattern::arn_covers(v, w)))
        })
    } else {
        values.iter().any(|value| {
            same_account(value)
                || principal_forms(value).iter().any(|v| who_forms.iter().any(|w| pattern::arn_overlaps(v, w)))
        })
    }
}

/// A principal and, for an AWS role, the pattern of its sessions, which a policy may
/// name instead (`arn:aws:sts::<id>:assumed-role/<name>/*`).
fn principal_forms(principal: &str) -> Vec<String> {
    let mut forms = vec![principal.to_owned()];
    let fields: Vec<&str> = principal.splitn(6, ':').collect();
    if fields.len() == 6 && fields[0] == "arn" && fields[2] == "iam" {
        if let Some(role) = fields[5].strip_prefix("role/") {
            let name = role.rsplit('/').next().unwrap_or(role);
            forms.push(format!("arn:{}:sts::{}:assumed-role/{name}/*", fields[1], fields[4]));
        }
    }
    forms
}

/// Evaluates one condition test against the request's context.
pub fn condition_holds(condition: &Condition, request: &Request) -> (Applies, Vec<String>) {
    let unknown = |why: String| (Applies::Unknown(vec![format!("condition {condition}: {why}")]), Vec::new());
    let Some((operator, if_exists)) = parse_operator(&condition.operator) else {
        return unknown(format!("operator {} is not evaluated here; check it by hand", condition.operator));
    };
    let Some(actual) = request.context_values(&condition.key) else {
        if if_exists {
            return (
                Applies::Yes,
                vec![format!(
                    "condition {condition} holds because {} is not in the request context (…IfExists)",
                    condition.key
                )],
            );
        }
        return unknown(format!("{} is not in the request context; give its value to decide", condition.key));
    };
    match operator.test(&condition.values, actual) {
        Ok(holds) => (Applies::from_bool(holds), Vec::new()),
        Err(why) => unknown(why),
    }
}

/// The condition operators this evaluator settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    StringEquals { negated: bool, ignore_case: bool },
    StringLike { negated: bool },
    Numeric { negated: bool, order: NumericOrder },
    Bool,
    Arn { negated: bool },
    IpAddress { negated: bool },
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumericOrder {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

fn parse_operator(text: &str) -> Option<(Operator, bool)> {
    let (base, if_exists) = match text.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (text, false),
    };
    let operator = match base {
        "StringEquals" => Operator::StringEquals { negated: false, ignore_case: false },
        "StringNotEquals" => Operator::StringEquals { negated: true, ignore_case: false },
        "StringEqualsIgnoreCase" => Operator::StringEquals { negated: false, ignore_case: true },
        "StringNotEqualsIgnoreCase" => Operator::StringEquals { negated: true, ignore_case: true },
        "StringLike" => Operator::StringLike { negated: false },
        "StringNotLike" => Operator::StringLike { negated: true },
        "NumericEquals" => Operator::Numeric { negated: false, order: NumericOrder::Equal },
        "NumericNotEquals" => Operator::Numeric { negated: true, order: NumericOrder::Equal },
        "NumericLessThan" => Operator::Numeric { negated: false, order: NumericOrder::Less },
        "NumericLessThanEquals" => Operator::Numeric { negated: false, order: NumericOrder::LessOrEqual },
        "NumericGreaterThan" => Operator::Numeric { negated: false, order: NumericOrder::Greater },
        "NumericGreaterThanEquals" => Operator::Numeric { negated: false, order: NumericOrder::GreaterOrEqual },
        "Bool" => Operator::Bool,
        "ArnEquals" | "ArnLike" => Operator::Arn { negated: false },
        "ArnNotEquals" | "ArnNotLike" => Operator::Arn { negated: true },
        "IpAddress" => Operator::IpAddress { negated: false },
        "NotIpAddress" => Operator::IpAddress { negated: true },
        // Null has no IfExists form.
        "Null" if !if_exists => Operator::Null,
        _ => return None,
    };
    Some((operator, if_exists))
}

impl Operator {
    /// Whether the condition holds for the request's values of its key; `Err` says
    /// why it cannot be told.
    fn test(self, expected: &[String], actual: &[String]) -> Result<bool, String> {
        match self {
            Operator::Null => {
                // The key is in the context, so it is not null: "true" fails, "false" holds.
                Ok(expected.iter().any(|v| v.eq_ignore_ascii_case("false")))
            }
            Operator::StringEquals { negated, ignore_case } => {
                Ok(any_pair(
                    expected,
                    actual,
                    |e, a| {
                        if ignore_case {
                            e.to_lowercase() == a.to_lowercase()
                        } else {
                            e == a
                        }
                    },
                ) != negated)
            }
            Operator::StringLike { negated } => Ok(any_pair(expected, actual, pattern::matches) != negated),
            Operator::Bool => Ok(any_pair(expected, actual, |e, a| e.eq_ignore_ascii_case(a))),
            Operator::Arn { negated } => Ok(any_pair(expected, actual, arn_like) != negated),
            Operator::Numeric { negated, order } => {
                let expected = numbers(expected)?;
                let actual = numbers(actual)?;
                let holds = expected.iter().any(|e| {
                    actual.iter().any(|a| match order {
                        NumericOrder::Equal => a == e,
                        NumericOrder::Less => a < e,
                        NumericOrder::LessOrEqual => a <= e,
                        NumericOrder::Greater => a > e,
                        NumericOrder::GreaterOrEqual => a >= e,
                    })
                });
                Ok(holds != negated)
            }
            Operator::IpAddress { negated } => {
                let mut holds = false;
                for a in actual {
                    let ip: IpAddr =
                        a.parse().map_err(|_| format!("{a:?} in the request context is not an IP address"))?;
                    for e in expected {
                        holds |= cidr_contains(e, ip)?;
                    }
                }
                Ok(holds != negated)
            }
        }
    }
}

fn any_pair(expected: &[String], actual: &[String], test: impl Fn(&str, &str) -> bool) -> bool {
    expected.iter().any(|e| actual.iter().any(|a| test(e, a)))
}

fn numbers(values: &[String]) -> Result<Vec<f64>, String> {
    values.iter().map(|v| v.trim().parse::<f64>().map_err(|_| format!("{v:?} is not a number"))).collect()
}

/// ArnLike: each of the six `:`-separated parts matched on its own.
fn arn_like(pattern: &str, arn: &str) -> bool {
    let pattern_parts: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    pattern_parts.len() == arn_parts.len() && pattern_parts.iter().zip(&arn_parts).all(|(p, a)| pattern::matches(p, a))
}

/// Whether `ip` is in `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or a single address).
fn cidr_contains(cidr: &str, ip: IpAddr) -> Result<bool, String> {
    let bad = || format!("{cidr:?} is not an IP address or CIDR block");
    let (address, bits) = match cidr.split_once('/') {
        Some((address, bits)) => (address, Some(bits.parse::<u32>().map_err(|_| bad())?)),
        None => (cidr, None),
    };
    let network: IpAddr = address.parse().map_err(|_| bad())?;
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return Err(bad());
            }
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Ok(u32::from(net) & mask == u32::from(ip) & mask)
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return Err(bad());
            }
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Ok(u128::from(net) & mask == u128::from(ip) & mask)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(cidr_contains("10.0.0.0/8", ip("10.1.2.3")), Ok(true));
        assert_eq!(cidr_contains("10.0.0.0/8", ip("11.1.2.3")), Ok(false));
        assert_eq!(cidr_contains("0.0.0.0/0", ip("11.1.2.3")), Ok(true));
        assert_eq!(cidr_contains("192.168.1.7", ip("192.168.1.7")), Ok(true));
        assert_eq!(cidr_contains("2001:db8::/32", ip("2001:db8::1")), Ok(true));
        assert_eq!(cidr_contains("2001:db8::/32", ip("10.0.0.1")), Ok(false));
        assert!(cidr_contains("10.0.0.0/40", ip("10.0.0.1")).is_err());
    }

    #[test]
    fn accounts_and_sessions() {
        assert_eq!(account_of("arn:aws:iam::111122223333:role/x"), Some("111122223333"));
        assert_eq!(account_of("arn:aws:sts::111122223333:assumed-role/x/s"), Some("111122223333"));
        assert_eq!(account_of("arn:sts::1234:assumed-role/x/*"), Some("1234"));
        assert_eq!(account_of("acs:ram::1234:role/x"), Some("1234"));
        assert_eq!(account_principal("arn:aws:iam::111122223333:root"), Some("111122223333"));
        assert_eq!(account_principal("acs:ram::1234:root"), Some("1234"));
        assert_eq!(account_principal("arn:aws:iam::111122223333:role/root"), None);
        assert!(principal_value_matches(
            "arn:aws:iam::111122223333:role/path/crr",
            "arn:aws:sts::111122223333:assumed-role/crr/session"
        ));
        assert!(!principal_value_matches(
            "arn:aws:iam::111122223333:role/crr",
            "arn:aws:sts::999999999999:assumed-role/crr/session"
        ));
    }
}
