//! Which redaction a body needs, and whether it can be made safe at all.
//!
//! When body redaction is configured (`redact.json_fields` or `redact.query_params`), in order:
//!
//! 1. An empty body has nothing to hide.
//! 2. A `content-encoding` other than `identity` (gzip'd JSON or form): the plugin cannot read
//!    it, so it is not sent (`Unredactable`).
//! 3. A `content-type` that cannot be read with certainty (see `media_type::Declared`): not
//!    sent (`Unredactable`). A type we cannot read never turns redaction off.
//! 4. `multipart/*`: named parts replaced, JSON parts redacted; a body not read with certainty
//!    is not sent (`Unredactable`).
//! 5. A body without a type, or whose type is neither JSON, form nor multipart, that reads as
//!    a JSON object or array in UTF-16 or UTF-32 (see `wide_json`): not sent
//!    (`Unredactable`), because names are compared as UTF-8 bytes.
//! 6. JSON, with `json_fields`: a body whose type says JSON, or whose bytes start with `{` or
//!    `[` whatever its type, is redacted; if it does not parse it is not sent (`Unparseable`).
//! 7. Form, with `query_params`: a body whose type is `application/x-www-form-urlencoded`, or
//!    that has no type at all (Rack reads an untyped POST as a form), is redacted as the query
//!    is. Every byte string reads as a form, so this step never refuses.
//! 8. Anything else (binary, XML, protobuf, text) is sent as it is.

use crate::redact::json::{looks_like_json, redact_json};
use crate::redact::media_type::{BodyType, Declared};
use crate::redact::multipart::{redact_multipart, Rules};
use crate::redact::query::redact_pairs;
use crate::redact::wide_json::looks_like_wide_json;
use crate::redact::Redaction;

/// Why a body cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsendable {
    /// Taken to be JSON (by its type or its first byte) and it does not parse.
    Unparseable,
    /// Its encoding, type or multipart structure cannot be read with certainty.
    Unredactable,
}

/// What the request's headers say about its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyHeaders {
    pub content_type: Declared,
    /// A `content-encoding` other than `identity` (or one that cannot be read).
    pub encoded: bool,
}

impl BodyHeaders {
    /// Takes one request header into account.
    pub fn add(&mut self, name: &str, value: &[u8]) {
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = std::mem::take(&mut self.content_type).and(value);
        } else if name.eq_ignore_ascii_case("content-encoding") {
            self.encoded |= !is_identity(value);
        }
    }
}

fn is_identity(value: &[u8]) -> bool {
    value.trim_ascii().eq_ignore_ascii_case(b"identity")
}

/// What a body needs, decided from its headers (and its first bytes, for JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan<'a> {
    /// It goes as it is.
    AsItIs,
    /// A multipart body with this boundary.
    Multipart(&'a [u8]),
    /// Its JSON redacted (`json`), then what comes out read as a form (`form`).
    Passes { json: bool, form: bool },
}

/// Which redaction `body` needs (steps 1 to 7 above), or why it cannot be sent.
pub fn plan<'a>(
    body: &[u8],
    headers: &'a BodyHeaders,
    redaction: &Redaction,
) -> Result<Plan<'a>, Unsendable> {
    let json = redaction.json_paths();
    let parameters = redaction.parameters();
    if body.is_empty() || (json.paths.is_empty() && parameters.names.is_empty()) {
        return Ok(Plan::AsItIs);
    }
    if headers.encoded {
        return Err(Unsendable::Unredactable);
    }
    let declared = match &headers.content_type {
        Declared::Unreadable => return Err(Unsendable::Unredactable),
        Declared::Type(BodyType::Multipart { boundary }) => return Ok(Plan::Multipart(boundary)),
        Declared::Type(body_type) => Some(body_type),
        Declared::Absent => None,
    };
    if matches!(declared, None | Some(BodyType::Other)) && looks_like_wide_json(body) {
        return Err(Unsendable::Unredactable);
    }
    let says_json = declared == Some(&BodyType::Json);
    let json = !json.paths.is_empty() && (says_json || looks_like_json(body));
    let form = !parameters.names.is_empty() && matches!(declared, None | Some(BodyType::Form));
    Ok(match (json, form) {
        (false, false) => Plan::AsItIs,
        _ => Plan::Passes { json, form },
    })
}

/// The rules of a multipart body's redaction.
pub fn multipart_rules(redaction: &Redaction) -> Rules<'_> {
    Rules {
        parameters: redaction.parameters(),
        json: redaction.json_paths(),
        json_replacement: &redaction.json_replacement,
    }
}

/// The body as the copy carries it: `Ok(None)` when it goes as it is. In one piece: see
/// `redact::sliced` for a large body.
pub fn redact_body(
    body: &[u8],
    headers: &BodyHeaders,
    redaction: &Redaction,
) -> Result<Option<Vec<u8>>, Unsendable> {
    let (json, form) = match plan(body, headers, redaction)? {
        Plan::AsItIs => return Ok(None),
        Plan::Multipart(boundary) => {
            return redact_multipart(body, boundary, multipart_rules(redaction))
                .map_err(|_| Unsendable::Unredactable)
        }
        Plan::Passes { json, form } => (json, form),
    };
    let mut redacted = None;
    if json {
        redacted = redact_json(body, redaction.json_paths(), &redaction.json_replacement)
            .map_err(|_| Unsendable::Unparseable)?;
    }
    if form {
        let current = redacted.as_deref().unwrap_or(body);
        if let Some(form) = redact_pairs(current, redaction.parameters()) {
            redacted = Some(form);
        }
    }
    Ok(redacted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn redaction(redact: &str) -> Redaction {
        let json = format!(r#"{{"targets": [{{"cluster": "c"}}], "redact": {redact}}}"#);
        Config::parse(json.as_bytes()).unwrap().redaction
    }

    fn both() -> Redaction {
        redaction(
            r#"{"json_fields": ["**.password"], "query_params": ["password"], "replacement": "R"}"#,
        )
    }

    fn headers(list: &[(&str, &[u8])]) -> BodyHeaders {
        let mut headers = BodyHeaders::default();
        for (name, value) in list {
            headers.add(name, value);
        }
        headers
    }

    fn typed(content_type: &[u8]) -> BodyHeaders {
        headers(&[("content-type", content_type)])
    }

    fn text(out: Result<Option<Vec<u8>>, Unsendable>) -> Result<Option<String>, Unsendable> {
        out.map(|o| o.map(|b| String::from_utf8(b).unwrap()))
    }

    const JSON: &str = r#"{"password":"hunter2"}"#;
    const REDACTED_JSON: &str = r#"{"password":"R"}"#;

    #[test]
    fn json_is_recognised_by_its_bytes_whatever_its_type() {
        let r = both();
        for content_type in [
            &b"application/json"[..],
            b"text/json",
            b"application/x-json",
            b"text/plain",
            b"application/octet-stream",
        ] {
            assert_eq!(
                text(redact_body(JSON.as_bytes(), &typed(content_type), &r)),
                Ok(Some(REDACTED_JSON.into())),
                "{}",
                String::from_utf8_lossy(content_type)
            );
        }
        assert_eq!(
            text(redact_body(JSON.as_bytes(), &BodyHeaders::default(), &r)),
            Ok(Some(REDACTED_JSON.into())),
            "no content type"
        );
    }

    #[test]
    fn what_is_taken_as_json_and_does_not_parse_is_not_sent() {
        let r = both();
        for (content_type, body) in [
            (&b"application/json"[..], "password=hunter2"),
            (b"application/json", r#"{"password":"hunter2""#),
            (b"text/plain", r#"{"password":"hunter2"} trailing"#),
            (b"text/plain", "{'password':'hunter2'}"),
            (b"application/x-www-form-urlencoded", "[password]=hunter2"),
        ] {
            assert_eq!(
                redact_body(body.as_bytes(), &typed(content_type), &r),
                Err(Unsendable::Unparseable),
                "{body}"
            );
        }
        let body = "<password>hunter2</password>";
        assert_eq!(
            redact_body(body.as_bytes(), &typed(b"application/xml"), &r),
            Ok(None),
            "not JSON by type or bytes: sent as it is"
        );
    }

    #[test]
    fn unreadable_or_doubled_types_and_encodings_are_not_sent() {
        let r = both();
        let body = JSON.as_bytes();
        for unreadable in [
            headers(&[("content-type", b"application/json; charset=\xff")]),
            headers(&[
                ("content-type", b"application/json"),
                ("content-type", b"text/plain"),
            ]),
            typed(b"application/json,text/plain"),
            typed(b"application/json; charset=utf-16"),
            typed(b""),
            headers(&[("content-encoding", b"gzip")]),
            headers(&[
                ("content-type", b"application/json"),
                ("content-encoding", b"br"),
            ]),
            headers(&[
                ("content-encoding", b"identity"),
                ("content-encoding", b"gzip"),
            ]),
            headers(&[("content-encoding", b"\xff")]),
            typed(b"multipart/form-data"),
        ] {
            assert_eq!(
                redact_body(body, &unreadable, &r),
                Err(Unsendable::Unredactable),
                "{unreadable:?}"
            );
        }
        assert_eq!(
            text(redact_body(
                body,
                &headers(&[("content-encoding", b" Identity ")]),
                &r
            )),
            Ok(Some(REDACTED_JSON.into()))
        );
    }

    #[test]
    fn form_bodies_are_redacted_when_typed_as_forms_or_untyped() {
        let r = both();
        let body = b"user=ann&password=hunter2";
        let redacted = Ok(Some("user=ann&password=R".to_string()));
        assert_eq!(
            text(redact_body(
                body,
                &typed(b"application/x-www-form-urlencoded"),
                &r
            )),
            redacted
        );
        assert_eq!(
            text(redact_body(body, &BodyHeaders::default(), &r)),
            redacted
        );
        assert_eq!(
            redact_body(body, &typed(b"text/plain"), &r),
            Ok(None),
            "no server reads text/plain as a form"
        );
        let json_only = redaction(r#"{"json_fields": ["password"]}"#);
        assert_eq!(
            redact_body(
                body,
                &typed(b"application/x-www-form-urlencoded"),
                &json_only
            ),
            Ok(None),
            "form fields are named in query_params"
        );
    }

    #[test]
    fn an_untyped_json_body_is_also_read_as_a_form() {
        let r = both();
        let body = br#"{"a":"x&password=hunter2"}"#;
        assert_eq!(
            text(redact_body(body, &BodyHeaders::default(), &r)),
            Ok(Some(r#"{"a":"x&password=R"#.into())),
            "Rack would read this untyped POST as a form with `password`"
        );
    }

    #[test]
    fn multipart_bodies_go_through_the_multipart_reader() {
        let r = both();
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n--b--\r\n";
        assert_eq!(
            text(redact_body(
                body,
                &typed(b"multipart/form-data; boundary=b"),
                &r
            )),
            Ok(Some(
                "--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nR\r\n--b--\r\n"
                    .into()
            ))
        );
        assert_eq!(
            redact_body(b"garbage", &typed(b"multipart/form-data; boundary=b"), &r),
            Err(Unsendable::Unredactable)
        );
    }

    #[test]
    fn json_in_utf16_or_utf32_is_not_sent_unless_its_type_says_form_or_multipart() {
        let r = both();
        let utf16be: Vec<u8> = "{\"password\":\"hunter2\"}"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let mut utf32le_with_mark = b"\xff\xfe\x00\x00".to_vec();
        utf32le_with_mark.extend(" [1]".chars().flat_map(|c| (c as u32).to_le_bytes()));
        for body in [&utf16be, &utf32le_with_mark] {
            for headers in [
                BodyHeaders::default(),
                typed(b"text/plain"),
                typed(b"application/octet-stream"),
            ] {
                assert_eq!(
                    redact_body(body, &headers, &r),
                    Err(Unsendable::Unredactable),
                    "{headers:?}"
                );
            }
            let json_only = redaction(r#"{"json_fields": ["password"]}"#);
            assert_eq!(
                redact_body(body, &BodyHeaders::default(), &json_only),
                Err(Unsendable::Unredactable)
            );
        }
        assert_eq!(
            redact_body(&utf16be, &typed(b"application/x-www-form-urlencoded"), &r),
            Ok(None),
            "a form: no server reads it as JSON, and it holds no `password=`"
        );
        let grpc = b"\x00\x00\x00\x00\x05\x0a\x03abc";
        let protobuf = b"\x08\x00\x10\x00";
        for binary in [&grpc[..], &protobuf[..]] {
            assert_eq!(
                redact_body(binary, &typed(b"application/grpc"), &r),
                Ok(None)
            );
        }
        assert_eq!(
            redact_body(protobuf, &BodyHeaders::default(), &r),
            Ok(None),
            "untyped binary: read as a form without `password`, sent as it is"
        );
    }

    #[test]
    fn without_body_redaction_or_body_nothing_is_looked_at() {
        let none = redaction("{}");
        let gzip = headers(&[("content-encoding", b"gzip"), ("content-type", b"\xff")]);
        assert_eq!(redact_body(b"\x1f\x8b", &gzip, &none), Ok(None));
        assert_eq!(redact_body(b"", &gzip, &both()), Ok(None));
    }
}
