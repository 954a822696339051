//! Shell words for the commands crr prints for the operator to run.

/// `text` as one word of a POSIX shell command: as it is when it holds only
/// characters no shell treats specially, else single-quoted.
pub fn word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=@".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_split_or_expand_them() {
        let rows = [
            ("a path", "crr-policies/trust-policy.json", "crr-policies/trust-policy.json"),
            (
                "an ARN",
                "acs:ram::1234567890123456:role/crr-replicator",
                "acs:ram::1234567890123456:role/crr-replicator",
            ),
            ("a space and a quote", "my policies/it's.json", r"'my policies/it'\''s.json'"),
            ("a variable", "$HOME", "'$HOME'"),
            ("empty", "", "''"),
        ];
        for (name, text, want) in rows {
            assert_eq!(word(text), want, "{name}");
        }
    }
}
