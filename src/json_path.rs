//! Paths into a JSON document, in the syntax of `redact.json_fields`: shared by redaction and
//! by whatever else names parts of a JSON body.

/// A dot path such as `users.*.ssn`: each segment is an object key, `*` (any key or array
/// index), or a number, which also matches that array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Any,
}

impl JsonPath {
    /// `None` for an empty path or an empty segment (`a..b`).
    pub fn parse(text: &str) -> Option<JsonPath> {
        let segments: Option<Vec<Segment>> = text
            .split('.')
            .map(|segment| match segment {
                "" => None,
                "*" => Some(Segment::Any),
                key => Some(Segment::Key(key.to_string())),
            })
            .collect();
        segments.filter(|s| !s.is_empty()).map(JsonPath)
    }

    pub fn matches(&self, path: &[Step]) -> bool {
        self.0.len() == path.len()
            && self
                .0
                .iter()
                .zip(path)
                .all(|(segment, step)| segment.matches(step))
    }

    /// Whether something below `path` may match.
    pub fn may_match_below(&self, path: &[Step]) -> bool {
        self.0.len() > path.len()
            && self
                .0
                .iter()
                .zip(path)
                .all(|(segment, step)| segment.matches(step))
    }
}

impl Segment {
    fn matches(&self, step: &Step) -> bool {
        match (self, step) {
            (Segment::Any, _) => true,
            (Segment::Key(key), Step::Key(actual)) => key == actual,
            (Segment::Key(key), Step::Index(index)) => key.parse() == Ok(*index),
        }
    }
}

/// Where the scanner is: the key of an object member, or the index of an array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_strictly() {
        assert!(JsonPath::parse("a.*.b").is_some());
        for bad in ["", ".", "a.", ".a", "a..b"] {
            assert_eq!(JsonPath::parse(bad), None, "{bad:?}");
        }
    }
}
