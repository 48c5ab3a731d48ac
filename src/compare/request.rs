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
            request_id: request_id.map(|id| cut(id, MAX_LOGGED_REQUEST_PATH)),
            method: cut(method, 32),
            path: cut(&reported_url(redacted_path), MAX_LOGGED_REQUEST_PATH),
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

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_string(),
    }
}
