//! Endpoints: which route of the API a request belongs to, as a label its comparisons are
//! counted under (`targets[].endpoints`).
//!
//! A configured template such as `"GET /users/{id}"` (or `"/users/{id}"`, any method) names
//! the requests it matches, the first match winning: `{name}` matches one non-empty path
//! segment, a trailing `{*}` the rest of the path (at least one segment). The query (and a
//! fragment) is never part of an endpoint. A request no template matches gets its method and
//! the automatic template of its path, where each data-like segment (an id, a date, an
//! e-mail address, see `data_like`) becomes `{}`: `GET /users/{}`, `GET /{}/orders` for
//! `/v1/orders`. Labels never carry a value: a template's literal text is the operator's, and
//! an automatic template keeps only segments that are not data-like.
//!
//! Work per request: one pass over the path per template tried, each stopping at the
//! template's last segment, so a path of thousands of segments costs no more than a short one
//! beyond the automatic template, which looks at `MAX_AUTOMATIC_SEGMENTS` segments at most.

use crate::data_like::{is_data_like as data_like, DATA as DATA_SEGMENT};

/// A request's method and path beyond this many segments become `{*}` in the automatic
/// template, so a path of thousands of segments gives a short label.
pub const MAX_AUTOMATIC_SEGMENTS: usize = 8;

/// Templates per target.
pub const MAX_TEMPLATES: usize = 256;
/// Characters of a template.
pub const MAX_TEMPLATE_CHARS: usize = 256;
/// The trailing segment that stands for the rest of the path.
pub const REST_SEGMENT: &str = "{*}";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: one non-empty segment.
    Parameter,
}

/// One configured template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// `None`: any method.
    method: Option<String>,
    segments: Vec<Segment>,
    /// Ends with `{*}`: one or more further segments.
    rest: bool,
    /// The template as the operator wrote it: the endpoint's label.
    label: String,
}

impl Template {
    /// Reads `"GET /users/{id}"`, `"/users/{id}"`, `"/files/{*}"`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.is_empty() || text.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(format!("must be 1 to {MAX_TEMPLATE_CHARS} characters"));
        }
        let (method, path) = match text.split_once(' ') {
            Some((method, path)) if !text.starts_with('/') => (Some(method), path),
            _ => (None, text),
        };
        if let Some(method) = method {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-') {
                return Err(format!(
                    "the method `{method}` must be upper-case letters (e.g. GET), followed by \
                     one space and the path"
                ));
            }
        }
        let Some(path) = path.strip_prefix('/') else {
            return Err("the path must start with `/`".into());
        };
        let mut segments = Vec::new();
        let mut rest = false;
        let parts: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let last = parts.len().saturating_sub(1);
        for (index, part) in parts.iter().enumerate() {
            if rest {
                return Err("`{*}` must be the last segment".into());
            }
            if *part == REST_SEGMENT {
                if index != last {
                    return Err("`{*}` must be the last segment".into());
                }
                rest = true;
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(format!(
                        "the parameter `{part}` must be `{{` letters, digits or `_` `}}`"
                    ));
                }
                segments.push(Segment::Parameter);
            } else if part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,:@%".contains(&b))
            {
                segments.push(Segment::Literal((*part).to_string()));
            } else {
                return Err(format!(
                    "the segment `{part}` must be a `{{name}}`, `{{*}}` (last) or literal text \
                     without `?`, `#`, `;`, `=`, braces, spaces or quotes (the query is never part \
                     of an endpoint)"
                ));
            }
        }
        Ok(Template {
            method: method.map(String::from),
            segments,
            rest,
            label: text.to_string(),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let mut parts = segments(path);
        for segment in &self.segments {
            match (segment, parts.next()) {
                (Segment::Literal(literal), Some(part)) if literal == part => {}
                (Segment::Parameter, Some(part)) if !part.is_empty() => {}
                _ => return false,
            }
        }
        match parts.next() {
            None => !self.rest,
            Some(part) => self.rest && !(part.is_empty() && parts.next().is_none()),
        }
    }
}

/// A target's templates, in the configured order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    templates: Vec<Template>,
}

/// Which endpoint a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'t> {
    /// A configured template (its index and label).
    Configured(usize, &'t str),
    /// No template matched: the automatic template.
    Automatic,
}

impl Endpoints {
    pub fn new(templates: Vec<Template>) -> Endpoints {
        Endpoints { templates }
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// The configured templates' labels, in order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.templates.iter().map(Template::label)
    }

    /// The endpoint label of a request: the first template that matches, else the automatic
    /// template. `path` may carry a query; it is left out.
    pub fn label(&self, method: &str, path: &str) -> String {
        let mut label = String::new();
        self.write_label(method, path, &mut label);
        label
    }

    /// `label`, appended to `out` (no string of its own).
    pub fn write_label(&self, method: &str, path: &str, out: &mut String) {
        let path = without_query(path);
        match self.find(method, path) {
            Endpoint::Configured(_, label) => out.push_str(label),
            Endpoint::Automatic => write_automatic(method, path, out),
        }
    }

    fn find(&self, method: &str, path: &str) -> Endpoint<'_> {
        self.templates
            .iter()
            .enumerate()
            .find(|(_, t)| t.matches(method, path))
            .map_or(Endpoint::Automatic, |(index, t)| {
                Endpoint::Configured(index, t.label())
            })
    }
}

/// The path without its query or fragment.
fn without_query(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path.get(..end).unwrap_or(path)
}

/// The path's segments after the leading `/` (none for `/` or an empty path).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    (!path.is_empty())
        .then(|| path.split('/'))
        .into_iter()
        .flatten()
}

/// The method and the path's automatic template: each data-like segment becomes `{}`, and
/// segments past `MAX_AUTOMATIC_SEGMENTS` become one `{*}`. A data-like method (not a name)
/// becomes `{}` too.
#[cfg(test)]
pub fn automatic(method: &str, path: &str) -> String {
    let mut label = String::new();
    write_automatic(method, path, &mut label);
    label
}

/// `automatic`, appended to `label`.
fn write_automatic(method: &str, path: &str, label: &mut String) {
    let path = without_query(path);
    label.reserve(method.len().min(32) + path.len().min(64) + 2);
    label.push_str(if data_like(method.as_bytes()) {
        DATA_SEGMENT
    } else {
        method
    });
    label.push(' ');
    let mut parts = segments(path);
    let mut written = 0;
    for part in parts.by_ref() {
        label.push('/');
        label.push_str(if data_like(part.as_bytes()) {
            DATA_SEGMENT
        } else {
            part
        });
        written += 1;
        if written == MAX_AUTOMATIC_SEGMENTS {
            break;
        }
    }
    if parts.next().is_some() {
        label.push('/');
        label.push_str(REST_SEGMENT);
    }
    if written == 0 {
        label.push('/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(templates: &[&str]) -> Endpoints {
        Endpoints::new(
            templates
                .iter()
                .map(|t| Template::parse(t).unwrap())
                .collect(),
        )
    }

    #[test]
    fn the_first_matching_template_names_the_endpoint() {
        let e = endpoints(&[
            "GET /users/{id}",
            "/users/{id}",
            "/users/{id}/orders/{order}",
            "GET /files/{*}",
            "GET /",
        ]);
        assert_eq!(e.label("GET", "/users/42"), "GET /users/{id}");
        assert_eq!(e.label("DELETE", "/users/42"), "/users/{id}", "any method");
        assert_eq!(
            e.label("GET", "/users/42/orders/7?sort=asc"),
            "/users/{id}/orders/{order}",
            "the query is never part of an endpoint"
        );
        assert_eq!(e.label("GET", "/files/a/b/c.txt"), "GET /files/{*}");
        assert_eq!(e.label("GET", "/files/a"), "GET /files/{*}");
        assert_eq!(e.label("GET", "/?q=1"), "GET /");
        assert_eq!(e.label("GET", "/"), "GET /");
    }

    #[test]
    fn a_parameter_is_one_non_empty_segment() {
        let e = endpoints(&["GET /users/{id}", "GET /files/{*}"]);
        assert_eq!(e.label("GET", "/users/42/extra"), "GET /users/{}/extra");
        assert_eq!(e.label("GET", "/users/"), "GET /users/");
        assert_eq!(e.label("GET", "/users"), "GET /users");
        assert_eq!(
            e.label("GET", "/files"),
            "GET /files",
            "`{{*}}` needs a segment"
        );
        assert_eq!(e.label("GET", "/files/"), "GET /files/");
        assert_eq!(e.label("POST", "/users/42"), "POST /users/{}");
    }

    #[test]
    fn without_a_match_each_data_like_segment_becomes_braces() {
        let none = Endpoints::default();
        assert!(none.is_empty());
        assert_eq!(none.label("GET", "/users/42"), "GET /users/{}");
        assert_eq!(none.label("GET", "/v1/orders"), "GET /{}/orders");
        assert_eq!(
            none.label("GET", "/users/alice@example.com/cart?token=abc"),
            "GET /users/{}/cart"
        );
        assert_eq!(
            none.label("GET", "/a/0f8fad5b-d9cb-469f-a165-70867728950e/b.json"),
            "GET /a/{}/{}"
        );
        assert_eq!(none.label("GET", "/x/%41/caf\u{e9}"), "GET /x/{}/{}");
        let long = "a".repeat(33);
        assert_eq!(none.label("GET", &format!("/{long}")), "GET /{}");
        assert_eq!(
            none.label("GET", &format!("/{}", &long[..32])),
            format!("GET /{}", &long[..32])
        );
        assert_eq!(none.label("GET", ""), "GET /");
        assert_eq!(none.label("GET", "?a=1"), "GET /");
        assert_eq!(none.label("M-SEARCH", "/"), "M-SEARCH /");
        assert_eq!(none.label("GET2", "/"), "{} /", "a data-like method");
    }

    #[test]
    fn a_path_of_thousands_of_segments_gives_a_short_label() {
        let path = "/a".repeat(5000);
        let label = automatic("GET", &path);
        assert_eq!(label, "GET /a/a/a/a/a/a/a/a/{*}");
        assert_eq!(automatic("GET", "/a/b/c/d/e/f/g/h"), "GET /a/b/c/d/e/f/g/h");
        let e = endpoints(&["GET /a/{x}/{*}"]);
        assert_eq!(e.label("GET", &path), "GET /a/{x}/{*}");
    }

    #[test]
    fn automatic_labels_hold_only_names_braces_and_slashes() {
        let hostile = "/;.;/a=.=b;.;/\"x\"/\\/\n/\u{0}/..//%2F";
        let label = automatic("GET", hostile);
        assert_eq!(
            label, "GET /{}/{}/{}/{}/{}/{}/{}//{*}",
            "`..//` holds an empty segment"
        );
        assert!(label
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b" /{}*_-".contains(&b)));
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("", "1 to 256"),
            ("users/{id}", "must start with `/`"),
            ("get /users", "upper-case"),
            ("GET  /users", "must start with `/`"),
            ("/files/{*}/x", "`{*}` must be the last"),
            ("/users/{id-x}", "parameter"),
            ("/users?x=1", "query"),
            ("/a;.;b", "`;`"),
            ("/a b", "spaces"),
            ("/a=.=b", "`=`"),
            ("/\"x\"", "quotes"),
        ];
        for (text, expected) in cases {
            let error = Template::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert!(Template::parse(&format!("/{}", "a".repeat(256))).is_err());
        assert!(Template::parse("/v1.2/users.json/{id}").is_ok());
        assert!(Template::parse("/").is_ok());
        assert!(Template::parse("/{*}").is_ok());
    }
}
