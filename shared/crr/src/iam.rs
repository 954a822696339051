//! The few AWS IAM calls `crr policy apply` makes on the replication role: read the
//! role and its trust policy, read and put crr's inline permission policy, update
//! the trust policy. IAM is a query API (a signed form POST, XML answers); it is
//! spoken here directly, signed with SigV4 through `crr_sign::sigv4`, rather than
//! pulling a whole SDK into the operator's tool for four calls.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use crr_sign::sigv4::{self, Payload, Settings};
use crr_sign::AccessKey;
use http_body_util::{BodyExt, Full, Limited};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::source_text;

/// The global IAM endpoint, used when no other is given.
pub const DEFAULT_ENDPOINT: &str = "https://iam.amazonaws.com";
const API_VERSION: &str = "2010-05-08";
/// IAM is global; requests are signed for us-east-1.
const SIGNING_REGION: &str = "us-east-1";
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// `application/x-www-form-urlencoded` as browsers and Python's `urlencode` write it:
/// unreserved characters stay, a space is `+`, everything else is percent-encoded.
/// (Servers that re-encode the parsed form to check the signature get the same bytes.)
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b' ');

/// Why an IAM call failed. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// IAM answered with an error, e.g. `NoSuchEntity`, `AccessDenied`.
    #[error("IAM {action} for role {role} was refused: {code}: {message}")]
    Refused { action: &'static str, role: String, code: String, message: String },
    /// No usable answer: unreachable endpoint, timeout, an answer that is not IAM's.
    #[error("IAM {action} at {endpoint} failed: {detail}")]
    Transport { action: &'static str, endpoint: String, detail: String },
}

impl IamError {
    /// The error code IAM answered with, if it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            IamError::Refused { code, .. } => Some(code),
            IamError::Transport { .. } => None,
        }
    }
}

/// A role as IAM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub arn: String,
    /// The trust policy document (JSON text).
    pub trust_policy: String,
}

/// An IAM client acting with one key.
pub struct Iam {
    http: crate::sts::StsHttp,
    endpoint: String,
    key: AccessKey,
}

impl Iam {
    /// A client for `endpoint` (default [`DEFAULT_ENDPOINT`]) acting with `key`.
    pub fn new(endpoint: Option<&str>, key: AccessKey) -> Result<Iam, String> {
        let endpoint = endpoint.unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/').to_owned();
        Ok(Iam { http: crate::sts::control_plane_http_client()?, endpoint, key })
    }

    /// The role named `name`.
    pub async fn get_role(&self, name: &str) -> Result<RoleInfo, IamError> {
        let xml = self.call("GetRole", name, &[("RoleName", name)]).await?;
        let field = |element: &str| {
            element_text(&xml, element)
                .ok_or_else(|| self.malformed("GetRole", &format!("no <{element}> in the answer")))
        };
        Ok(RoleInfo { arn: field("Arn")?, trust_policy: decode_document(&field("AssumeRolePolicyDocument")?) })
    }

    /// The inline policy `policy` of role `role`; `None` when the role has no such policy.
    pub async fn get_role_policy(&self, role: &str, policy: &str) -> Result<Option<String>, IamError> {
        match self.call("GetRolePolicy", role, &[("RoleName", role), ("PolicyName", policy)]).await {
            Ok(xml) => element_text(&xml, "PolicyDocument")
                .map(|document| Some(decode_document(&document)))
                .ok_or_else(|| self.malformed("GetRolePolicy", "no <PolicyDocument> in the answer")),
            Err(error) if error.code() == Some("NoSuchEntity") => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Creates or replaces the inline policy `policy` of role `role`.
    pub async fn put_role_policy(&self, role: &str, policy: &str, document: &str) -> Result<(), IamError> {
        self.call("PutRolePolicy", role, &[("RoleName", role), ("PolicyName", policy), ("PolicyDocument", document)])
            .await
            .map(drop)
    }

    /// Replaces the trust policy of role `role`.
    pub async fn update_assume_role_policy(&self, role: &str, document: &str) -> Result<(), IamError> {
        self.call("UpdateAssumeRolePolicy", role, &[("RoleName", role), ("PolicyDocument", document)]).await.map(drop)
    }

    fn malformed(&self, action: &'static str, detail: &str) -> IamError {
        IamError::Transport {
            action,
            endpoint: self.endpoint.clone(),
            detail: format!("{detail}; is this an IAM endpoint?"),
        }
    }

    /// POSTs one signed call; the XML of a successful answer.
    async fn call(&self, action: &'static str, role: &str, params: &[(&str, &str)]) -> Result<String, IamError> {
        let transport = |detail: String| IamError::Transport { action, endpoint: self.endpoint.clone(), detail };
        let body = form_body(action, params);
        let url = format!("{}/", self.endpoint);
        let mut request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")
            .body(())
            .map_err(|e| transport(format!("{url:?} is not a valid URL: {e}")))?;
        sigv4::sign(
            &mut request,
            &self.key,
            &Settings {
                payload: Payload::Bytes(body.as_bytes()),
                ..Settings::new(SIGNING_REGION, "iam", SystemTime::now())
            },
        )
        .map_err(|e| transport(e.to_string()))?;
        let request = request.map(|()| Full::new(Bytes::from(body)));
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| transport(format!("no answer within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| transport(format!("could not reach it: {}", source_text(&e))))?;
        let status = response.status();
        let answer = tokio::time::timeout(TIMEOUT, Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect())
            .await
            .map_err(|_| transport(format!("the answer did not finish within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| transport(format!("reading the answer: {e}")))?
            .to_bytes();
        let text = String::from_utf8_lossy(&answer).into_owned();
        if status.is_success() {
            return Ok(text);
        }
        match element_text(&text, "Code") {
            Some(code) => Err(IamError::Refused {
                action,
                role: role.to_owned(),
                code,
                message: element_text(&text, "Message").unwrap_or_default(),
            }),
            None => Err(transport(format!("HTTP {status} without an IAM error in the answer"))),
        }
    }
}

/// The form body of a call: `Action`, `Version`, then the parameters.
fn form_body(action: &str, params: &[(&str, &str)]) -> String {
    [("Action", action), ("Version", API_VERSION)]
        .iter()
        .chain(params)
        .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, FORM_VALUE).to_string().replace(' ', "+")))
        .collect::<Vec<_>>()
        .join("&")
}

/// The text of the first element named `name` in `xml`, if any.
fn element_text(xml: &str, name: &str) -> Option<String> {
    let document = roxmltree::Document::parse(xml).ok()?;
    let node = document.descendants().find(|node| node.is_element() && node.tag_name().name() == name)?;
    Some(node.text().unwrap_or_default().to_owned())
}

/// IAM returns policy documents URL-encoded (RFC 3986); some IAM-compatible servers
/// return them as they are.
fn decode_document(text: &str) -> String {
    let text = text.trim();
    if text.starts_with('{') {
        text.to_owned()
    } else {
        percent_decode_str(text).decode_utf8_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_body_encodes_documents_as_html_forms_do() {
        assert_eq!(
            form_body("PutRolePolicy", &[("RoleName", "r"), ("PolicyDocument", r#"{"a": "b/c*"}"#)]),
            "Action=PutRolePolicy&Version=2010-05-08&RoleName=r&PolicyDocument=%7B%22a%22%3A+%22b%2Fc%2A%22%7D"
        );
    }

    #[test]
    fn documents_are_decoded_when_url_encoded_and_kept_when_not() {
        assert_eq!(decode_document("%7B%22Version%22%3A%222012-10-17%22%7D"), r#"{"Version":"2012-10-17"}"#);
        assert_eq!(decode_document(" {\"a\": \"%41\"} "), "{\"a\": \"%41\"}");
    }

    #[test]
    fn error_answers_are_read_for_their_code_and_message() {
        let xml = r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>
            <Code>NoSuchEntity</Code><Message>The role with name x cannot be found.</Message></Error></ErrorResponse>"#;
        assert_eq!(element_text(xml, "Code").as_deref(), Some("NoSuchEntity"));
        assert_eq!(element_text(xml, "Message").as_deref(), Some("The role with name x cannot be found."));
        assert_eq!(element_text("not xml", "Code"), None);
    }
}
