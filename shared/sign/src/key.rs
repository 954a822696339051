//! The credentials a signature is made with. Kept in one type so that the secret
//! and the security token cannot leak through `Debug` output, logs or errors.

use std::fmt;

/// An access key: id, secret and, for temporary credentials, a security token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    id: String,
    secret: String,
    security_token: Option<String>,
}

impl AccessKey {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        AccessKey { id: id.into(), secret: secret.into(), security_token: None }
    }

    /// Temporary credentials: the token travels with every signed request. An
    /// empty token counts as none, as the platforms send it for long-term keys.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.security_token = (!token.is_empty()).then_some(token);
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret itself: only for computing signatures, never for printing.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"** redacted **")
            .field("security_token", &self.security_token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret_and_the_token() {
        let key = AccessKey::new("LTAI-id", "the-secret-value").with_security_token("the-token");
        let text = format!("{key:?}");
        assert!(text.contains("LTAI-id"), "{text}");
        assert!(!text.contains("the-secret-value"), "{text}");
        assert!(!text.contains("the-token"), "{text}");
        assert_eq!(key.security_token(), Some("the-token"));
        assert_eq!(AccessKey::new("a", "b").with_security_token("").security_token(), None);
    }
}
