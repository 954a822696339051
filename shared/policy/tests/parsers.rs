//! Property tests of the policy parser and the wildcard comparisons it feeds: any
//! text or JSON is a policy or an error, never a panic; what parses prints back to
//! a policy that parses the same; deep nesting is refused; comparing patterns takes
//! memory in one pattern's length, not the product of both.

use crr_policy::pattern::{covers, matches, overlaps};
use crr_policy::Policy;
use proptest::prelude::*;
use serde_json::{json, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,24}|s3:\\*|arn:aws:s3:::[a-z*]{0,8}/\\*|acs:oss:\\*:[0-9]{0,16}:[a-z*]{0,8}".prop_map(Value::String),
    ];
    let field = "Version|Statement|Sid|Effect|Principal|NotPrincipal|Action|NotAction|Resource|NotResource|Condition|AWS|RAM|Service|StringEquals|StringLike|[A-Za-z:]{1,12}";
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn statement() -> impl Strategy<Value = Value> {
    (
        "Allow|Deny",
        prop::collection::vec("s3:[A-Za-z*?]{1,12}|oss:[A-Za-z*]{1,12}|\\*", 1..4),
        prop::collection::vec(
            "arn:aws:s3:::[a-z0-9*?-]{1,12}(/[a-z*]{0,6})?|acs:oss:\\*:[0-9]{16}:[a-z*-]{1,12}",
            1..4,
        ),
    )
        .prop_map(|(effect, actions, resources)| json!({"Effect": effect, "Action": actions, "Resource": resources}))
}

proptest! {
    #[test]
    fn any_text_is_a_policy_or_an_error(text in "\\PC{0,400}") {
        let _ = Policy::parse(&text);
    }

    #[test]
    fn any_json_is_a_policy_or_an_error(value in json_value()) {
        let _ = Policy::parse(&value.to_string());
    }

    #[test]
    fn a_parsed_policy_prints_back_to_the_same_policy(
        version in "2012-10-17|1",
        statements in prop::collection::vec(statement(), 1..5),
    ) {
        let text = json!({"Version": version, "Statement": statements}).to_string();
        if let Ok(policy) = Policy::parse(&text) {
            let again = Policy::from_value(policy.to_value()).unwrap();
            prop_assert_eq!(again.statements().len(), policy.statements().len());
            prop_assert_eq!(again.to_value(), policy.to_value());
        }
    }

    #[test]
    fn wildcard_comparisons_never_panic_and_agree(a in "[a-c*?/:]{0,24}", b in "[a-c*?/:]{0,24}", text in "[a-c/:]{0,24}") {
        // What both match shows they overlap; what covers matches what it covers.
        if matches(&a, &text) && matches(&b, &text) {
            prop_assert!(overlaps(&a, &b), "{} and {} both match {}", a, b, text);
        }
        if covers(&a, &b) && matches(&b, &text) {
            prop_assert!(matches(&a, &text), "{} covers {} but not {}", a, b, text);
        }
    }
}

#[test]
fn deeply_nested_policies_are_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Policy::parse(&deep).is_err());
    let conditions = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\",\"Condition\":{}1{}}}]}}",
        "{\"StringEquals\":".repeat(10_000),
        "}".repeat(10_000)
    );
    assert!(Policy::parse(&conditions).is_err());
}

#[test]
fn long_patterns_compare_in_bounded_memory() {
    // Two rows of the shorter side's length, not a 20 000 x 20 000 table.
    let a = format!("arn:aws:s3:::{}*", "ab".repeat(10_000));
    let b = format!("arn:aws:s3:::{}*", "a?".repeat(10_000));
    assert!(overlaps(&a, &b));
    assert!(covers(&b, &a));
}
