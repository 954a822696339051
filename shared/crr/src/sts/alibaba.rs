//! Alibaba Cloud STS `AssumeRole` on the wire: the signed request and the reading
//! of the answer, as pure functions. The HTTP call itself is in [`super`].
//!
//! The call is RPC style (version 2015-04-01), sent as a POST form so no
//! credential ends up in a URL, and signed with [`crr_sign::rpc`]. Errors come back
//! as `{"RequestId", "HostId", "Code", "Message"}`; each code is mapped to whether
//! a retry can help and to what the operator should check.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use crr_sign::{rpc, AccessKey};
use serde::Deserialize;

use crate::arn::RoleArn;
use crate::error::{Error, Fault};

/// The public Alibaba Cloud STS endpoint, used when `CRR_STS_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://sts.aliyuncs.com";
pub const API_VERSION: &str = "2015-04-01";
/// Alibaba STS accepts 900 s up to the role's maximum session duration.
const MIN_DURATION: u64 = 900;

/// One AssumeRole call, before signing.
#[derive(Debug, Clone, Copy)]
pub struct AssumeRole<'a> {
    pub role: &'a RoleArn,
    /// Already valid for Alibaba (see [`session_name`]).
    pub session: &'a str,
    pub duration: Duration,
    pub external_id: Option<&'a str>,
}

/// Role session names allow `[A-Za-z0-9.@_-]`, 2 to 64 characters; anything else
/// becomes `-`.
pub fn session_name(raw: &str) -> String {
    let mut name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || ".@_-".contains(c) { c } else { '-' }).take(64).collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

/// The signed form body of the AssumeRole POST. `nonce` must be unique per request.
pub fn request_body(call: &AssumeRole<'_>, caller: &AccessKey, now: SystemTime, nonce: &str) -> String {
    let role = call.role.to_string();
    let duration = call.duration.as_secs().max(MIN_DURATION).to_string();
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("RoleArn", role.as_str()),
        ("RoleSessionName", call.session),
        ("DurationSeconds", duration.as_str()),
    ];
    if let Some(id) = call.external_id {
        params.push(("ExternalId", id));
    }
    rpc::sign(
        &rpc::RpcCall { method: "POST", version: API_VERSION, format: "JSON", params: &params, timestamp: now, nonce },
        caller,
    )
    .to_query_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    request_id: Option<String>,
    credentials: Option<WireCredentials>,
    code: Option<String>,
    message: Option<String>,
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// The temporary credentials in a successful answer, or the error it describes.
pub fn parse_response(status: u16, body: &[u8], role: &RoleArn) -> Result<Credentials, Error> {
    let fail =
        |fault, code: Option<String>, detail: String| Error::AssumeRole { role: role.to_string(), fault, code, detail };
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(_) => {
            let fault = if status >= 500 || status == 429 || (200..300).contains(&status) {
                Fault::Transient
            } else {
                Fault::Permanent
            };
            return Err(fail(
                fault,
                Some("BadResponse".into()),
                format!(
                    "the STS endpoint answered HTTP {status} with a body that is not Alibaba STS JSON ({}); check CRR_STS_ENDPOINT",
                    excerpt(body)
                ),
            ));
        }
    };
    let request_id = answer.request_id.as_deref().map(|id| format!(", request id {id}")).unwrap_or_default();
    if (200..300).contains(&status) {
        let Some(c) = answer.credentials else {
            return Err(fail(
                Fault::Transient,
                Some("BadResponse".into()),
                format!("STS answered without credentials (HTTP {status}{request_id})"),
            ));
        };
        let Some(expiry) = parse_expiration(&c.expiration) else {
            return Err(fail(
                Fault::Transient,
                Some("BadResponse".into()),
                format!("STS answered with an expiration that is not a UTC time: {:?}{request_id}", c.expiration),
            ));
        };
        return Ok(Credentials::new(
            c.access_key_id,
            c.access_key_secret,
            Some(c.security_token),
            Some(expiry),
            "crr-alibaba-sts",
        ));
    }
    let code = answer.code.unwrap_or_else(|| format!("HTTP{status}"));
    let message = answer.message.as_deref().map(clean_message).unwrap_or_else(|| format!("HTTP {status}"));
    let (fault, hint) = classify(status, &code, role);
    Err(fail(fault, Some(code.clone()), format!("{code}: {message} (HTTP {status}{request_id}){hint}")))
}

/// Whether a retry can help, and what the operator should check.
fn classify(status: u16, code: &str, role: &RoleArn) -> (Fault, String) {
    let permanent = |hint: String| (Fault::Permanent, format!("; {hint}"));
    match code {
        c if c.starts_with("InvalidAccessKeyId") => permanent(
            "STS does not know the function's own access key: check the credentials the function runs with \
             (its service role, or ALIBABA_CLOUD_ACCESS_KEY_ID)"
                .into(),
        ),
        "SignatureDoesNotMatch" | "IncompleteSignature" | "InvalidAccessKeySecret" => permanent(
            "STS rejected the request signature: the function's access key secret does not belong to its \
             access key id (check ALIBABA_CLOUD_ACCESS_KEY_SECRET or the platform credentials)"
                .into(),
        ),
        c if c.starts_with("NoPermission") || c.starts_with("Forbidden") || c == "AccessDenied" => permanent(format!(
            "the function's own identity must be allowed sts:AssumeRole on {role} (a RAM policy on the \
                 function's role or user), and the role's trust policy must allow the function's account"
        )),
        c if c.starts_with("EntityNotExist.Role") => {
            permanent(format!("the role {role} does not exist in account {}: check CRR_ROLE_ARN", role.account()))
        }
        c if c.starts_with("InvalidParameter.RoleArn") => {
            permanent("check CRR_ROLE_ARN: acs:ram::<account uid>:role/<name>".into())
        }
        c if c.starts_with("InvalidTimeStamp") => {
            permanent("the function's clock is more than 15 minutes off; check the host's time".into())
        }
        c if c.starts_with("InvalidSecurityToken") => (
            Fault::Transient,
            "; the function's temporary credentials are no longer valid; the platform passes fresh ones \
             with the next invocation"
                .into(),
        ),
        "SignatureNonceUsed" => (Fault::Transient, String::new()),
        c if c.starts_with("Throttling")
            || c == "ServiceUnavailable"
            || c == "InternalError"
            || c == "ServiceTimeout" =>
        {
            (Fault::Transient, String::new())
        }
        _ if status >= 500 || status == 429 || status == 408 => (Fault::Transient, String::new()),
        _ => (Fault::Permanent, String::new()),
    }
}

/// Alibaba quotes its string to sign in SignatureDoesNotMatch messages; it can hold
/// the caller's security token, so it never reaches our errors or logs.
fn clean_message(message: &str) -> String {
    let cut = message.find("server string to sign is").map(|i| message[..i].trim_end()).unwrap_or(message);
    let mut text: String = cut.chars().take(400).collect();
    if text.len() < cut.len() {
        text.push('…');
    }
    text
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "empty".into();
    }
    let mut out: String = one_line.chars().take(120).collect();
    if out.len() < one_line.len() {
        out.push('…');
    }
    format!("starts {out:?}")
}

/// `2015-04-09T11:52:19Z`, optionally with fractional seconds.
pub fn parse_expiration(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, clock) = text.split_once('T')?;
    let clock = clock.split('.').next()?;
    let mut d = date.splitn(3, '-').map(str::parse::<u32>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut c = clock.splitn(3, ':').map(str::parse::<u8>);
    let (hour, minute, second) = (c.next()?.ok()?, c.next()?.ok()?, c.next()?.ok()?);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let clock = time::Time::from_hms(hour, minute, second).ok()?;
    Some(SystemTime::from(time::PrimitiveDateTime::new(date, clock).assume_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> RoleArn {
        "acs:ram::1234567890123456:role/crr-replicator".parse().unwrap()
    }

    fn form(body: &str) -> Vec<(String, String)> {
        body.split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned();
                (decode(k), decode(v))
            })
            .collect()
    }

    #[test]
    fn the_request_is_a_signed_assume_role_form() {
        let role = role();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let caller = AccessKey::new("LTAI-fn", "fn-secret").with_security_token("fc-token");
        let call = AssumeRole {
            role: &role,
            session: "crr-object-created-req-1",
            duration: Duration::from_secs(3600),
            external_id: Some("ext-1"),
        };
        let body = request_body(&call, &caller, at, "nonce-1");
        let params = form(&body);
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("AssumeRole"));
        assert_eq!(get("RoleArn"), Some("acs:ram::1234567890123456:role/crr-replicator"));
        assert_eq!(get("RoleSessionName"), Some("crr-object-created-req-1"));
        assert_eq!(get("DurationSeconds"), Some("3600"));
        assert_eq!(get("ExternalId"), Some("ext-1"));
        assert_eq!(get("Version"), Some("2015-04-01"));
        assert_eq!(get("Format"), Some("JSON"));
        assert_eq!(get("AccessKeyId"), Some("LTAI-fn"));
        assert_eq!(get("SecurityToken"), Some("fc-token"));
        assert_eq!(get("SignatureNonce"), Some("nonce-1"));
        assert_eq!(get("Timestamp"), Some("2015-08-30T12:36:00Z"));
        // The signature is the RPC signature of everything else, for a POST.
        let unsigned: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "Signature").cloned().collect();
        let expected = rpc::signature(&rpc::string_to_sign("POST", &unsigned), "fn-secret");
        assert_eq!(get("Signature"), Some(expected.as_str()));
        assert!(!body.contains("fn-secret"));

        let short = AssumeRole { duration: Duration::from_secs(60), external_id: None, ..call };
        let params = form(&request_body(&short, &AccessKey::new("a", "b"), at, "n"));
        assert!(params.contains(&("DurationSeconds".into(), "900".into())));
        assert!(!params.iter().any(|(k, _)| k == "ExternalId" || k == "SecurityToken"));
    }

    #[test]
    fn session_names_keep_only_what_alibaba_allows() {
        assert_eq!(session_name("crr-fn-1.2@x_y"), "crr-fn-1.2@x_y");
        assert_eq!(session_name("a+b=c,d e"), "a-b-c-d-e");
        assert_eq!(session_name("x"), "x-");
        assert_eq!(session_name(&"z".repeat(80)).len(), 64);
    }

    #[test]
    fn a_successful_answer_gives_expiring_credentials() {
        let body = br#"{"RequestId":"6894B13B-6D71-4EF5-88FA-F32781734A7F",
            "AssumedRoleUser":{"Arn":"acs:ram::1234567890123456:role/crr-replicator/s","AssumedRoleId":"34458433936495****:s"},
            "Credentials":{"SecurityToken":"CAIS-token","AccessKeySecret":"tmp-secret","AccessKeyId":"STS.id","Expiration":"2015-04-09T11:52:19Z"}}"#;
        let c = parse_response(200, body, &role()).unwrap();
        assert_eq!(c.access_key_id(), "STS.id");
        assert_eq!(c.secret_access_key(), "tmp-secret");
        assert_eq!(c.session_token(), Some("CAIS-token"));
        assert_eq!(c.expiry(), Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_428_580_339)));
    }

    #[test]
    fn expirations_parse_as_utc() {
        assert_eq!(parse_expiration("1970-01-01T00:01:40Z"), Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)));
        assert_eq!(
            parse_expiration("2015-04-09T11:52:19.123Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_428_580_339))
        );
        for bad in ["", "2015-04-09 11:52:19", "2015-13-09T11:52:19Z", "2015-04-09T25:00:00Z", "x"] {
            assert_eq!(parse_expiration(bad), None, "{bad}");
        }
    }

    fn error_of(status: u16, body: &str) -> (Fault, String, String) {
        match parse_response(status, body.as_bytes(), &role()).unwrap_err() {
            e @ Error::AssumeRole { .. } => {
                let fault = e.fault();
                (fault, e.error_type(), e.to_string())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_role_the_code_and_the_fix() {
        let (fault, code, text) = error_of(
            403,
            r#"{"RequestId":"R1","HostId":"sts.aliyuncs.com","Code":"NoPermission","Message":"You are not authorized to do this action. You should be authorized by RAM."}"#,
        );
        assert_eq!(fault, Fault::Permanent);
        assert_eq!(code, "NoPermission");
        assert!(
            text.starts_with(
                "assuming role acs:ram::1234567890123456:role/crr-replicator: NoPermission: You are not authorized"
            ),
            "{text}"
        );
        assert!(text.contains("request id R1"), "{text}");
        assert!(
            text.contains("must be allowed sts:AssumeRole on acs:ram::1234567890123456:role/crr-replicator"),
            "{text}"
        );
        assert!(text.contains("trust policy"), "{text}");

        let (fault, code, text) = error_of(
            404,
            r#"{"RequestId":"R2","Code":"InvalidAccessKeyId.NotFound","Message":"Specified access key is not found."}"#,
        );
        assert_eq!((fault, code.as_str()), (Fault::Permanent, "InvalidAccessKeyId.NotFound"));
        assert!(text.contains("does not know the function's own access key"), "{text}");

        let (fault, _, text) = error_of(
            404,
            r#"{"Code":"EntityNotExist.Role","Message":"The role not exists: acs:ram::1234567890123456:role/crr-replicator."}"#,
        );
        assert_eq!(fault, Fault::Permanent);
        assert!(text.contains("does not exist in account 1234567890123456"), "{text}");

        for (status, code) in
            [(400, "Throttling.User"), (503, "ServiceUnavailable"), (500, "InternalError"), (400, "SignatureNonceUsed")]
        {
            let (fault, got, _) = error_of(status, &format!(r#"{{"Code":"{code}","Message":"m"}}"#));
            assert_eq!((fault, got.as_str()), (Fault::Transient, code), "{code}");
        }
    }

    #[test]
    fn the_quoted_string_to_sign_never_reaches_the_error() {
        let (fault, code, text) = error_of(
            400,
            r#"{"RequestId":"R3","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DLTAI%26SecurityToken%3Dsecret-token-value"}"#,
        );
        assert_eq!((fault, code.as_str()), (Fault::Permanent, "SignatureDoesNotMatch"));
        assert!(!text.contains("secret-token-value"), "{text}");
        assert!(!text.contains("string to sign"), "{text}");
        assert!(text.contains("access key secret does not belong to its access key id"), "{text}");
    }

    #[test]
    fn answers_that_are_not_sts_json_say_so() {
        let (fault, code, text) = error_of(502, "<html>Bad Gateway</html>");
        assert_eq!((fault, code.as_str()), (Fault::Transient, "BadResponse"));
        assert!(
            text.contains("HTTP 502") && text.contains("Bad Gateway") && text.contains("CRR_STS_ENDPOINT"),
            "{text}"
        );
        let (fault, _, text) = error_of(200, r#"{"RequestId":"R4"}"#);
        assert_eq!(fault, Fault::Transient);
        assert!(text.contains("without credentials"), "{text}");
        let (_, _, text) = error_of(
            200,
            r#"{"Credentials":{"AccessKeyId":"a","AccessKeySecret":"b","SecurityToken":"c","Expiration":"soon"}}"#,
        );
        assert!(text.contains("\"soon\""), "{text}");
    }
}
