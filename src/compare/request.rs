//! The request a comparison belongs to, as its log lines name it.

use crate::data_like::write_reported_url;
use crate::endpoints::Endpoints;
use std::mem::size_of;

/// A request path longer than this is cut in the log line.
pub const MAX_LOGGED_REQUEST_PATH: usize = 256;
/// A method longer than this is cut in the log line.
const MAX_LOGGED_METHOD: usize = 32;
/// Room left past what a comparison's text is first sized for before it is given back: a
/// long path cut in the log line holds no more than its cut form.
const MAX_SPARE_ROOM: usize = 256;

/// The request a comparison belongs to, as the mismatch line names it: its id, method and
/// path, and its endpoint per candidate. `path` is the copy's with its data taken out
/// (`data_like::reported_url`: data-like segments and every query value written `{}`).
///
/// All of it is written one after another in one string (one allocation per compared
/// request, where a string each cost five): the id from 0 to `id_end`, the method to
/// `method_end`, the path to `path_end`, then each candidate's endpoint label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    text: String,
    has_id: bool,
    id_end: usize,
    method_end: usize,
    path_end: usize,
    /// The first candidate's (target index, end of its label in `text`): the usual single
    /// candidate needs no list.
    first_endpoint: Option<(usize, usize)>,
    /// Further candidates', each label starting where the one before ends.
    more_endpoints: Vec<(usize, usize)>,
}

impl RequestInfo {
    pub fn new(request_id: Option<&str>, method: &str, redacted_path: &str) -> RequestInfo {
        // Room for the id and method as cut, the path reported and one endpoint label (the
        // method and path at most, as the automatic template writes it), so that the usual
        // request's text is allocated once (a path whose data grows as `{}` grows it).
        let method_room = method.len().min(4 * MAX_LOGGED_METHOD + 3);
        let room = request_id
            .map_or(0, str::len)
            .min(4 * MAX_LOGGED_REQUEST_PATH + 3)
            + 2 * (method_room + redacted_path.len() + 2);
        let mut text = String::with_capacity(room);
        if let Some(id) = request_id {
            text.push_str(id);
            cut(&mut text, 0, MAX_LOGGED_REQUEST_PATH);
        }
        let id_end = text.len();
        text.push_str(method);
        cut(&mut text, id_end, MAX_LOGGED_METHOD);
        let method_end = text.len();
        write_reported_url(redacted_path, &mut text);
        cut(&mut text, method_end, MAX_LOGGED_REQUEST_PATH);
        let path_end = text.len();
        RequestInfo {
            text,
            has_id: request_id.is_some(),
            id_end,
            method_end,
            path_end,
            first_endpoint: None,
            more_endpoints: Vec::new(),
        }
    }

    /// Names candidate `target`'s endpoint for `method` and `path` (`Endpoints::label`).
    pub fn add_endpoint(&mut self, target: usize, endpoints: &Endpoints, method: &str, path: &str) {
        endpoints.write_label(method, path, &mut self.text);
        let end = self.text.len();
        match self.first_endpoint {
            None => self.first_endpoint = Some((target, end)),
            Some(_) => self.more_endpoints.push((target, end)),
        }
    }

    /// Gives back the room a cut path left unused (the pending comparisons hold it against
    /// the memory budget): call once every endpoint is in.
    pub fn give_back_room(&mut self) {
        if self.text.capacity() > self.text.len() + MAX_SPARE_ROOM {
            self.text.shrink_to_fit();
        }
    }

    /// The request's `x-request-id`, cut (`None`: it had none).
    pub fn request_id(&self) -> Option<&str> {
        self.has_id.then(|| self.part(0, self.id_end))
    }

    pub fn method(&self) -> &str {
        self.part(self.id_end, self.method_end)
    }

    /// The path as reported (data taken out), cut.
    pub fn path(&self) -> &str {
        self.part(self.method_end, self.path_end)
    }

    /// The endpoint of this request for candidate `target` (`""` if not known).
    pub fn endpoint(&self, target: usize) -> &str {
        let mut start = self.path_end;
        for &(index, end) in self.first_endpoint.iter().chain(&self.more_endpoints) {
            if index == target {
                return self.part(start, end);
            }
            start = end;
        }
        ""
    }

    fn part(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    pub fn bytes_held(&self) -> usize {
        size_of::<RequestInfo>()
            + self.text.capacity()
            + self.more_endpoints.capacity() * size_of::<(usize, usize)>()
    }
}

/// The text from `start` on, cut after `max_chars` characters (then `...`), in place.
fn cut(text: &mut String, start: usize, max_chars: usize) {
    if text.len().saturating_sub(start) <= max_chars {
        return; // no more characters than bytes: nothing to count (the usual text)
    }
    let end = text
        .get(start..)
        .and_then(|tail| tail.char_indices().nth(max_chars))
        .map(|(end, _)| start + end);
    if let Some(end) = end {
        text.truncate(end);
        text.push_str("...");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_like::reported_url;
    use crate::endpoints::Template;

    fn cut_alone(text: &str, max_chars: usize) -> String {
        let mut text = format!("before{text}");
        cut(&mut text, "before".len(), max_chars);
        text.split_off("before".len())
    }

    #[test]
    fn a_long_text_is_cut_after_its_characters_and_keeps_no_spare_room() {
        assert_eq!(cut_alone("abc", 3), "abc");
        assert_eq!(cut_alone("abcd", 3), "abc...");
        assert_eq!(cut_alone("", 0), "");
        assert_eq!(cut_alone("é€😀x", 3), "é€😀...", "characters, not bytes");
        assert_eq!(cut_alone("é€😀", 3), "é€😀", "three characters, more bytes");
        assert_eq!(cut_alone("ab", 2), "ab");
        let mut long = RequestInfo::new(None, "GET", &"/p".repeat(5_000));
        assert_eq!(long.path().len(), MAX_LOGGED_REQUEST_PATH + 3);
        long.give_back_room();
        assert!(
            long.bytes_held() < 1_000,
            "{} bytes held",
            long.bytes_held()
        );
        let info = RequestInfo::new(Some(&"i".repeat(300)), "GET", "/orders/12345?q=secret");
        assert_eq!(info.request_id().map(str::len), Some(259));
        assert_eq!(info.path(), reported_url("/orders/12345?q=secret"));
        assert_eq!(info.method(), "GET");
        let method = "M".repeat(40);
        assert_eq!(
            RequestInfo::new(None, &method, "/").method(),
            format!("{}...", &method[..32])
        );
    }

    #[test]
    fn each_part_reads_back_as_written_and_each_candidate_finds_its_endpoint() {
        let templates = Endpoints::new(vec![Template::parse("GET /users/{id}").unwrap()]);
        for (id, method, path) in [
            (Some("req-1"), "GET", "/users/42?x=1"),
            (None, "GET", "/"),
            (Some(""), "", ""),
            (Some("é"), "PÖST", "/ü/é?ä=ö"),
        ] {
            let mut info = RequestInfo::new(id, method, path);
            assert_eq!(info.endpoint(0), "", "none known yet");
            info.add_endpoint(3, &templates, method, path);
            info.add_endpoint(0, &Endpoints::default(), method, path);
            info.add_endpoint(7, &templates, method, path);
            info.give_back_room();
            assert_eq!(info.request_id(), id);
            assert_eq!(info.method(), method);
            assert_eq!(info.path(), reported_url(path));
            assert_eq!(info.endpoint(3), templates.label(method, path));
            assert_eq!(info.endpoint(0), Endpoints::default().label(method, path));
            assert_eq!(info.endpoint(7), templates.label(method, path));
            assert_eq!(info.endpoint(1), "");
        }
    }
}
