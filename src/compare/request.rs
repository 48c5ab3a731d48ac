//! The request a comparison belongs to, as its log lines name it.

use crate::data_like::reported_url;

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
}

impl RequestInfo {
    pub fn new(request_id: Option<&str>, method: &str, redacted_path: &str) -> RequestInfo {
        RequestInfo {
            request_id: request_id.map(|id| cut(id, MAX_LOGGED_REQUEST_PATH)),
            method: cut(method, 32),
            path: cut(&reported_url(redacted_path), MAX_LOGGED_REQUEST_PATH),
        }
    }

    pub fn bytes_held(&self) -> usize {
        std::mem::size_of::<RequestInfo>()
            + self.request_id.as_ref().map_or(0, String::capacity)
            + self.method.capacity()
            + self.path.capacity()
    }
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_string(),
    }
}
