//! OSS's XML, both ways: the documents crr sends (CompleteMultipartUpload,
//! DeleteMultipleObjects) and the answers it reads (errors, InitiateMultipartUpload,
//! ListObjectsV2, GetObjectTagging, DeleteMultipleObjects, GetBucketVersioning,
//! GetBucketInfo), read with roxmltree into crr's types.

use percent_encoding::percent_decode_str;
use roxmltree::{Document, Node};

use crate::decide::gone::Newest;
use crate::error::{Failure, Fault};
use crate::object::{normalize_etag, Listed, Tags};
use crate::store::{BucketInfo, ListPage, PendingUpload, Refusal, UploadedPart, Versioning};

/// The fields of an OSS `<Error>` document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDoc {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    /// OSS's own error code, e.g. `0026-00000001`, which its documentation explains.
    pub ec: Option<String>,
}

/// An `<Error>` document, if `body` is one.
pub fn parse_error(body: &[u8]) -> Option<ErrorDoc> {
    let text = std::str::from_utf8(body).ok()?;
    let doc = Document::parse(text).ok()?;
    let root = doc.root_element();
    (root.tag_name().name() == "Error").then(|| ErrorDoc {
        code: text_of(root, "Code"),
        message: text_of(root, "Message"),
        request_id: text_of(root, "RequestId"),
        ec: text_of(root, "EC"),
    })
}

fn child<'a>(node: Node<'a, 'a>, name: &str) -> Option<Node<'a, 'a>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a>(node: Node<'a, 'a>, name: &'a str) -> impl Iterator<Item = Node<'a, 'a>> + 'a {
    node.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The text of `name` under `node`; `Some("")` for an empty element.
fn raw_text(node: Node, name: &str) -> Option<String> {
    child(node, name).map(|c| c.text().unwrap_or_default().to_owned())
}

fn text_of(node: Node, name: &str) -> Option<String> {
    raw_text(node, name).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn document<'a>(body: &'a [u8], what: &str, root: &str) -> Result<Document<'a>, Failure> {
    let text = std::str::from_utf8(body).map_err(|_| malformed(what, "it is not UTF-8"))?;
    let doc = Document::parse(text).map_err(|e| malformed(what, &e.to_string()))?;
    if doc.root_element().tag_name().name() != root {
        return Err(malformed(what, &format!("its root is <{}>, not <{root}>", doc.root_element().tag_name().name())));
    }
    Ok(doc)
}

fn malformed(what: &str, detail: &str) -> Failure {
    Failure {
        fault: Fault::Transient,
        status: None,
        code: Some("BadResponse".into()),
        message: format!("the answer to {what} is not the XML OSS sends: {detail}"),
    }
}

/// Escapes text for an XML element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A key OSS sent with `encoding-type=url`.
fn url_decoded(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// `2012-02-24T08:42:32.000Z` as seconds since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text.trim(), aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

/// The body of CompleteMultipartUpload: the parts in order, with their ETags as the server gave them.
pub fn complete_body(parts: &[UploadedPart]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for p in parts {
        xml.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", p.number, escape(&p.etag)));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// The body of DeleteMultipleObjects, not quiet, so every key is accounted for.
pub fn delete_body(keys: &[&str]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>false</Quiet>");
    for key in keys {
        xml.push_str(&format!("<Object><Key>{}</Key></Object>", escape(key)));
    }
    xml.push_str("</Delete>");
    xml
}

/// The body of PutObjectTagging.
pub fn tagging_body(tags: &Tags) -> String {
    let mut xml = String::from("<Tagging><TagSet>");
    for (k, v) in tags {
        xml.push_str(&format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", escape(k), escape(v)));
    }
    xml.push_str("</TagSet></Tagging>");
    xml
}

/// The `<ETag>` of a CopyObject, UploadPartCopy or CompleteMultipartUpload result.
pub fn result_etag(body: &[u8], root: &str) -> Option<String> {
    let doc = document(body, root, root).ok()?;
    text_of(doc.root_element(), "ETag")
}

pub fn parse_upload_id(body: &[u8]) -> Result<String, Failure> {
    let doc = document(body, "InitiateMultipartUpload", "InitiateMultipartUploadResult")?;
    text_of(doc.root_element(), "UploadId").ok_or_else(|| malformed("InitiateMultipartUpload", "no <UploadId>"))
}

/// A ListObjectsV2 page, asked for with `encoding-type=url`.
pub fn parse_list(body: &[u8]) -> Result<ListPage, Failure> {
    let doc = document(body, "ListObjectsV2", "ListBucketResult")?;
    let root = doc.root_element();
    let url = text_of(root, "EncodingType").as_deref() == Some("url");
    let decode = |t: String| if url { url_decoded(&t) } else { t };
    let mut objects = Vec::new();
    for c in children(root, "Contents") {
        let Some(key) = raw_text(c, "Key") else { continue };
        objects.push(Listed {
            key: decode(key),
            size: text_of(c, "Size").and_then(|s| s.parse().ok()).unwrap_or(0),
            etag: normalize_etag(&text_of(c, "ETag").unwrap_or_default()),
            modified: text_of(c, "LastModified").and_then(|t| parse_time(&t)),
        });
    }
    let prefixes = children(root, "CommonPrefixes").filter_map(|p| raw_text(p, "Prefix")).map(decode).collect();
    let truncated = text_of(root, "IsTruncated").as_deref() == Some("true");
    let next = text_of(root, "NextContinuationToken").filter(|_| truncated);
    Ok(ListPage { objects, prefixes, next })
}

pub fn parse_tags(body: &[u8]) -> Result<Tags, Failure> {
    let doc = document(body, "GetObjectTagging", "Tagging")?;
    let Some(set) = child(doc.root_element(), "TagSet") else { return Ok(Tags::new()) };
    Ok(children(set, "Tag")
        .filter_map(|t| Some((raw_text(t, "Key")?, raw_text(t, "Value").unwrap_or_default())))
        .collect())
}

/// The keys a DeleteMultipleObjects answer did not report deleted, with why when it says.
pub fn parse_delete_result(body: &[u8], asked: &[&str]) -> Result<Vec<Refusal>, Failure> {
    let doc = document(body, "DeleteMultipleObjects", "DeleteResult")?;
    let root = doc.root_element();
    let url = text_of(root, "EncodingType").as_deref() == Some("url");
    let decode = |t: String| if url { url_decoded(&t) } else { t };
    let deleted: std::collections::HashSet<String> =
        children(root, "Deleted").filter_map(|d| raw_text(d, "Key")).map(decode).collect();
    let mut refusals: Vec<Refusal> = children(root, "Error")
        .filter_map(|e| {
            Some(Refusal {
                key: decode(raw_text(e, "Key")?),
                code: text_of(e, "Code"),
                message: text_of(e, "Message").unwrap_or_else(|| "refused".into()),
            })
        })
        .collect();
    for key in asked {
        if !deleted.contains(*key) && !refusals.iter().any(|r| r.key == *key) {
            refusals.push(Refusal {
                key: (*key).to_owned(),
                code: None,
                message: "the answer does not report it deleted".into(),
            });
        }
    }
    Ok(refusals)
}

/// The newest entry of `key` in a ListObjectVersions answer of one entry.
pub fn parse_newest_version(body: &[u8], key: &str) -> Result<Newest, Failure> {
    let doc = document(body, "ListObjectVersions", "ListVersionsResult")?;
    let root = doc.root_element();
    let url = text_of(root, "EncodingType").as_deref() == Some("url");
    let decode = |t: String| if url { url_decoded(&t) } else { t };
    let latest = |kind: &'static str| {
        children(root, kind).any(|v| {
            raw_text(v, "Key").map(decode).as_deref() == Some(key) && text_of(v, "IsLatest").as_deref() != Some("false")
        })
    };
    Ok(if latest("DeleteMarker") {
        Newest::DeleteMarker
    } else if latest("Version") {
        Newest::Object
    } else {
        Newest::Nothing
    })
}

/// Where the next page of a ListMultipartUploads starts: its key and upload-id markers.
pub type UploadMarkers = (String, String);

/// The uploads of a ListMultipartUploads answer, and the markers of the next page.
pub fn parse_uploads(body: &[u8]) -> Result<(Vec<PendingUpload>, Option<UploadMarkers>), Failure> {
    let doc = document(body, "ListMultipartUploads", "ListMultipartUploadsResult")?;
    let root = doc.root_element();
    let url = text_of(root, "EncodingType").as_deref() == Some("url");
    let decode = |t: String| if url { url_decoded(&t) } else { t };
    let uploads = children(root, "Upload")
        .filter_map(|u| {
            Some(PendingUpload {
                key: decode(raw_text(u, "Key")?),
                upload_id: text_of(u, "UploadId")?,
                initiated: text_of(u, "Initiated").and_then(|t| parse_time(&t)),
            })
        })
        .collect();
    let truncated = text_of(root, "IsTruncated").as_deref() == Some("true");
    let next = match (truncated, text_of(root, "NextKeyMarker")) {
        (true, Some(key)) => Some((decode(key), text_of(root, "NextUploadIdMarker").unwrap_or_default())),
        _ => None,
    };
    Ok((uploads, next))
}

pub fn parse_versioning(body: &[u8]) -> Result<Versioning, Failure> {
    let doc = document(body, "GetBucketVersioning", "VersioningConfiguration")?;
    Ok(versioning_of(text_of(doc.root_element(), "Status").as_deref()))
}

fn versioning_of(status: Option<&str>) -> Versioning {
    match status {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => Versioning::Off,
    }
}

pub fn parse_bucket_info(body: &[u8]) -> Result<BucketInfo, Failure> {
    let doc = document(body, "GetBucketInfo", "BucketInfo")?;
    let bucket = child(doc.root_element(), "Bucket").ok_or_else(|| malformed("GetBucketInfo", "no <Bucket>"))?;
    Ok(BucketInfo {
        region: text_of(bucket, "Region")
            .or_else(|| text_of(bucket, "Location").map(|l| l.trim_start_matches("oss-").to_owned())),
        owner: child(bucket, "Owner").and_then(|o| text_of(o, "ID")),
        storage_class: text_of(bucket, "StorageClass"),
        versioning: Some(versioning_of(text_of(bucket, "Versioning").as_deref())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents() {
        let e = parse_error(
            b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>no</Message>\
              <RequestId>R1</RequestId><HostId>h</HostId><EC>0003-00000001</EC></Error>",
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("AccessDenied"));
        assert_eq!(e.ec.as_deref(), Some("0003-00000001"));
        assert_eq!(parse_error(b"<html>proxy error</html>"), None);
        assert_eq!(parse_error(b"not xml"), None);
    }

    #[test]
    fn listings_decode_url_encoded_keys_and_times() {
        let page = parse_list(
            b"<ListBucketResult><Name>b</Name><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
              <NextContinuationToken>tok</NextContinuationToken>\
              <Contents><Key>a%20b/%E6%97%A5.txt</Key><LastModified>2012-02-24T08:42:32.000Z</LastModified>\
              <ETag>\"5B3C1A2E053D763E1B002CC607C5A0FE\"</ETag><Size>344606</Size></Contents>\
              <CommonPrefixes><Prefix>dir%2B/</Prefix></CommonPrefixes></ListBucketResult>",
        )
        .unwrap();
        assert_eq!(page.objects[0].key, "a b/日.txt");
        assert_eq!(page.objects[0].etag, "5b3c1a2e053d763e1b002cc607c5a0fe");
        assert_eq!(page.objects[0].size, 344606);
        assert_eq!(page.objects[0].modified, Some(1_330_072_952));
        assert_eq!(page.prefixes, vec!["dir+/"]);
        assert_eq!(page.next.as_deref(), Some("tok"));
        let last = parse_list(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert!(last.objects.is_empty() && last.next.is_none());
        let err = parse_list(b"<Other/>").unwrap_err();
        assert!(err.message.contains("not <ListBucketResult>"), "{}", err.message);
    }

    #[test]
    fn requests_escape_keys() {
        assert_eq!(
            delete_body(&["a&b", "<c>"]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>false</Quiet>\
             <Object><Key>a&amp;b</Key></Object><Object><Key>&lt;c&gt;</Key></Object></Delete>"
        );
        let parts = [UploadedPart { number: 1, etag: "\"AB\"".into() }];
        assert_eq!(
            complete_body(&parts),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;AB&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
    }

    #[test]
    fn delete_results_account_for_every_key() {
        let refused = parse_delete_result(
            b"<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>\
              <Message>no</Message></Error></DeleteResult>",
            &["a", "b", "c"],
        )
        .unwrap();
        assert_eq!(refused.len(), 2);
        assert_eq!((refused[0].key.as_str(), refused[0].code.as_deref()), ("b", Some("AccessDenied")));
        assert_eq!(refused[1].key, "c");
    }

    #[test]
    fn tags_versioning_and_bucket_info() {
        let tags = parse_tags(b"<Tagging><TagSet><Tag><Key>a</Key><Value>1 2</Value></Tag><Tag><Key>b</Key><Value/></Tag></TagSet></Tagging>").unwrap();
        assert_eq!(tags.get("a").map(String::as_str), Some("1 2"));
        assert_eq!(tags.get("b").map(String::as_str), Some(""));
        assert_eq!(parse_versioning(b"<VersioningConfiguration/>").unwrap(), Versioning::Off);
        assert_eq!(
            parse_versioning(b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>").unwrap(),
            Versioning::Suspended
        );
        let info = parse_bucket_info(
            b"<BucketInfo><Bucket><Location>oss-cn-local</Location><StorageClass>IA</StorageClass>\
              <Owner><DisplayName>o</DisplayName><ID>222</ID></Owner><Versioning>Enabled</Versioning></Bucket></BucketInfo>",
        )
        .unwrap();
        assert_eq!(info.region.as_deref(), Some("cn-local"));
        assert_eq!(info.owner.as_deref(), Some("222"));
        assert_eq!(info.storage_class.as_deref(), Some("IA"));
        assert_eq!(info.versioning, Some(Versioning::Enabled));
    }

    #[test]
    fn newest_versions_and_pending_uploads() {
        let versions = |entries: &str| {
            format!("<ListVersionsResult><EncodingType>url</EncodingType>{entries}</ListVersionsResult>")
        };
        let marker = versions("<DeleteMarker><Key>a%20b</Key><IsLatest>true</IsLatest></DeleteMarker>");
        assert_eq!(parse_newest_version(marker.as_bytes(), "a b").unwrap(), Newest::DeleteMarker);
        let object = versions("<Version><Key>a%20b</Key><IsLatest>true</IsLatest></Version>");
        assert_eq!(parse_newest_version(object.as_bytes(), "a b").unwrap(), Newest::Object);
        let longer = versions("<Version><Key>a%20bc</Key><IsLatest>true</IsLatest></Version>");
        assert_eq!(parse_newest_version(longer.as_bytes(), "a b").unwrap(), Newest::Nothing, "another key");

        let page = b"<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
            <NextKeyMarker>k%2F2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>\
            <Upload><Key>k%2F1</Key><UploadId>u1</UploadId><Initiated>2026-12-02T06:00:00.000Z</Initiated></Upload>\
            </ListMultipartUploadsResult>";
        let (uploads, next) = parse_uploads(page).unwrap();
        assert_eq!(uploads.len(), 1);
        assert_eq!((uploads[0].key.as_str(), uploads[0].upload_id.as_str()), ("k/1", "u1"));
        assert!(uploads[0].initiated.is_some());
        assert_eq!(next, Some(("k/2".to_owned(), "u2".to_owned())));
        let last = b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
        assert_eq!(parse_uploads(last).unwrap(), (Vec::new(), None));
    }
}
