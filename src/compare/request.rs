//! The request a comparison belongs to, as its log lines name it.

use crate::data_like::reported_url;
use std::mem::size_of;

/// A request path longer than this is cut in the log line.
pub const MAX_LOGGED_REQUEST_PATH: usize = 256;

/// The request a comparison belongs to, as the mismatch line names it. `path` is the copy's
/// with its data taken out (`data_like::reported_url`: data-like segments and every query
/// value written `{}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub request_id: Option<String>,
    pub method: String,
    pub path: String,
    /// Per candidate target (its index): the endpoint the request belongs to there.
    pub endpoints: Vec<(usize, String)>,
}

impl RequestInfo {
    pub fn new(request_id: Option<&str>, method: &str, redacted_path: &str) -> RequestInfo {
        RequestInfo {
            request_id: request_id.map(|id| cut(id.to_string(), MAX_LOGGED_REQUEST_PATH)),
            method: cut(method.to_string(), 32),
            path: cut(reported_url(redacted_path), MAX_LOGGED_REQUEST_PATH),
            endpoints: Vec::new(),
        }
    }

    /// The endpoint of this request for candidate `target` (`""` if not known).
    pub fn endpoint(&self, target: usize) -> &str {
        self.endpoints
            .iter()
            .find(|(index, _)| *index == target)
            .map_or("", |(_, label)| label.as_str())
    }

    pub fn bytes_held(&self) -> usize {
        size_of::<RequestInfo>()
            + self.request_id.as_ref().map_or(0, String::capacity)
            + self.method.capacity()
            + self.path.capacity()
            + self
                .endpoints
                .iter()
                .map(|(_, label)| size_of::<(usize, String)>() + label.capacity())
                .sum::<usize>()
    }
}

/// `text`, cut after `max_chars` characters (then `...`), in place: the reported path is
/// written once per comparison, not copied again. A text cut gives back what it does not
/// use (the pending comparisons hold it against the memory budget).
fn cut(mut text: String, max_chars: usize) -> String {
    if let Some((end, _)) = text.char_indices().nth(max_chars) {
        text.truncate(end);
        text.push_str("...");
        text.shrink_to_fit();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_after_its_characters_and_keeps_no_spare_room() {
        assert_eq!(cut("abc".to_string(), 3), "abc");
        assert_eq!(cut("abcd".to_string(), 3), "abc...");
        assert_eq!(cut(String::new(), 0), "");
        assert_eq!(
            cut("é€😀x".to_string(), 3),
            "é€😀...",
            "characters, not bytes"
        );
        let long = cut("x".repeat(10_000), MAX_LOGGED_REQUEST_PATH);
        assert_eq!(long.len(), MAX_LOGGED_REQUEST_PATH + 3);
        assert!(long.capacity() < 1_000, "{} bytes held", long.capacity());
        let info = RequestInfo::new(Some(&"i".repeat(300)), "GET", "/orders/12345?q=secret");
        assert_eq!(info.request_id.as_deref().map(str::len), Some(259));
        assert_eq!(info.path, reported_url("/orders/12345?q=secret"));
    }
}
