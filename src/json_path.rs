//! Paths into a JSON document, in the syntax of `redact.json_fields`: shared by redaction and
//! by whatever else names parts of a JSON body.
//!
//! A set of paths is matched while a document is read, level by level, as a small automaton:
//! each level of the document has the set of positions (path, segment) still alive there, and
//! the next level's set is computed from it and the key or index stepped into. The work per
//! value is bounded by the configuration's size (never by the document's), so matching is
//! linear in the document however many `*` and `**` the paths hold.

use crate::names::same_name;

/// A dot path such as `users.*.ssn` or `**.password`: each segment is an object key, `*` (any
/// one key or array index), `**` (any number of levels, none included), or a number, which
/// also matches that array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key { key: String, index: Option<usize> },
    Any,
    AnyDepth,
}

/// Where the reader is: the key of an object member (`None` when it was not decoded because no
/// alive position compares keys), or the index of an array element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(Option<&'a str>),
    Index(usize),
}

/// One alive position: path number and the segment it waits for (`== len` once complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    path: usize,
    segment: usize,
}

impl JsonPath {
    /// `None` for an empty path, an empty segment (`a..b`), or a path of `**` only (it would
    /// name the whole document). Repeated `**` collapse into one.
    pub fn parse(text: &str) -> Option<JsonPath> {
        let mut segments: Vec<Segment> = Vec::new();
        for segment in text.split('.') {
            let segment = match segment {
                "" => return None,
                "*" => Segment::Any,
                "**" if segments.last() == Some(&Segment::AnyDepth) => continue,
                "**" => Segment::AnyDepth,
                key => Segment::Key {
                    key: key.to_string(),
                    index: key.parse().ok(),
                },
            };
            segments.push(segment);
        }
        segments
            .iter()
            .any(|segment| *segment != Segment::AnyDepth)
            .then_some(JsonPath(segments))
    }

    fn segment(&self, at: usize) -> Option<&Segment> {
        self.0.get(at)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A set of paths with its key comparison (`redact.case_sensitive`).
#[derive(Debug, Clone, Copy)]
pub struct PathSet<'a> {
    pub paths: &'a [JsonPath],
    pub case_sensitive: bool,
}

impl PathSet<'_> {
    /// The positions alive at the top of the document, pushed onto `out`.
    pub fn start(&self, out: &mut Vec<Position>) {
        let from = out.len();
        for path in 0..self.paths.len() {
            self.add(out, from, Position { path, segment: 0 });
        }
    }

    /// Pushes onto `out` the positions alive after `step` from `alive`; returns the work done
    /// (positions visited and key bytes compared) and whether some path is complete there.
    pub fn step(&self, alive: &[Position], step: Step<'_>, out: &mut Vec<Position>) -> Walked {
        let from = out.len();
        let mut work = 0;
        for position in alive {
            work += 1;
            let Some(path) = self.paths.get(position.path) else {
                continue;
            };
            let next = Position {
                segment: position.segment + 1,
                ..*position
            };
            match path.segment(position.segment) {
                Some(Segment::AnyDepth) => self.add(out, from, *position),
                Some(Segment::Any) => self.add(out, from, next),
                Some(Segment::Key { key, index }) => {
                    let matched = match step {
                        Step::Key(Some(actual)) => {
                            work += key.len() + actual.len();
                            same_name(key, actual, self.case_sensitive)
                        }
                        Step::Key(None) => false,
                        Step::Index(actual) => *index == Some(actual),
                    };
                    if matched {
                        self.add(out, from, next);
                    }
                }
                None => {}
            }
        }
        let alive_now = out.get(from..).unwrap_or_default();
        Walked {
            work,
            complete: alive_now.iter().any(|p| self.is_complete(*p)),
        }
    }

    /// Whether a whole path from the document's root matches one of the set: for callers that
    /// hold the path rather than walk the document with the automaton. Work: the path's
    /// length times the set's positions.
    pub fn matches<'s>(&self, path: impl IntoIterator<Item = Step<'s>>) -> bool {
        let (mut alive, mut next) = (Vec::new(), Vec::new());
        self.start(&mut alive);
        let mut complete = false;
        for step in path {
            next.clear();
            complete = self.step(&alive, step, &mut next).complete;
            std::mem::swap(&mut alive, &mut next);
            if alive.is_empty() {
                return false;
            }
        }
        complete
    }

    /// Whether a key stepped into from `alive` must be decoded: some position compares keys.
    pub fn compares_keys(&self, alive: &[Position]) -> bool {
        alive.iter().any(|position| {
            matches!(
                self.paths
                    .get(position.path)
                    .and_then(|path| path.segment(position.segment)),
                Some(Segment::Key { .. })
            )
        })
    }

    fn is_complete(&self, position: Position) -> bool {
        self.paths
            .get(position.path)
            .is_some_and(|path| position.segment == path.len())
    }

    /// Adds `position` to the level that starts at `from`, once, and with it the position past
    /// a `**` (which may match no level at all).
    fn add(&self, out: &mut Vec<Position>, from: usize, position: Position) {
        let level = out.get(from..).unwrap_or_default();
        if level.contains(&position) {
            return;
        }
        out.push(position);
        let at_any_depth = self
            .paths
            .get(position.path)
            .and_then(|path| path.segment(position.segment))
            == Some(&Segment::AnyDepth);
        if at_any_depth {
            // Repeated `**` were collapsed by `parse`, so this recursion is one level deep.
            self.add(
                out,
                from,
                Position {
                    segment: position.segment + 1,
                    ..position
                },
            );
        }
    }
}

/// What one step cost and found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    pub work: usize,
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[JsonPath]) -> PathSet<'_> {
        PathSet {
            paths,
            case_sensitive: false,
        }
    }

    /// Whether the document location `steps` is named by one of `paths`.
    fn names(paths: &[&str], steps: &[Step<'_>]) -> bool {
        let paths: Vec<JsonPath> = paths.iter().map(|p| JsonPath::parse(p).unwrap()).collect();
        let set = set(&paths);
        let mut alive = Vec::new();
        set.start(&mut alive);
        let mut complete = false;
        for step in steps {
            let mut next = Vec::new();
            complete = set.step(&alive, *step, &mut next).complete;
            alive = next;
        }
        complete
    }

    fn key(name: &str) -> Step<'_> {
        Step::Key(Some(name))
    }

    #[test]
    fn paths_parse_strictly() {
        assert!(JsonPath::parse("a.*.b").is_some());
        assert!(JsonPath::parse("**.a").is_some());
        assert!(JsonPath::parse("a.**").is_some());
        assert_eq!(JsonPath::parse("**.**.a"), JsonPath::parse("**.a"));
        for bad in ["", ".", "a.", ".a", "a..b", "**", "**.**"] {
            assert_eq!(JsonPath::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bare_names_are_top_level_keys() {
        assert!(names(&["password"], &[key("password")]));
        assert!(!names(&["password"], &[key("user"), key("password")]));
        assert!(!names(&["password"], &[Step::Index(0), key("password")]));
        assert!(!names(&["password"], &[]), "never the whole document");
    }

    #[test]
    fn any_depth_matches_every_level_the_top_included() {
        let deep = [
            key("a"),
            Step::Index(3),
            key("b"),
            key("c"),
            key("password"),
        ];
        assert!(names(&["**.password"], &[key("password")]));
        assert!(names(&["**.password"], &[Step::Index(0), key("password")]));
        assert!(names(&["**.password"], &deep));
        assert!(!names(&["**.password"], &[key("password"), key("x")]));
        assert!(names(&["a.**.password"], &deep));
        assert!(!names(&["b.**.password"], &deep));
        assert!(names(&["a.**"], &[key("a")]), "`**` may match no level");
        assert!(names(&["a.**"], &deep));
        assert!(names(&["**.b.*.password"], &deep));
        assert!(!names(&["**.b.password"], &deep));
        assert!(names(&["**.3.b.**.password"], &deep));
    }

    #[test]
    fn keys_compare_case_insensitively_unless_asked() {
        assert!(names(&["**.password"], &[key("PassWord")]));
        assert!(names(&["Card.Number"], &[key("card"), key("NUMBER")]));
        let paths = [JsonPath::parse("password").unwrap()];
        let exact = PathSet {
            paths: &paths,
            case_sensitive: true,
        };
        let mut alive = Vec::new();
        exact.start(&mut alive);
        assert!(
            !exact
                .step(&alive, key("PASSWORD"), &mut Vec::new())
                .complete
        );
        assert!(
            exact
                .step(&alive, key("password"), &mut Vec::new())
                .complete
        );
    }

    #[test]
    fn numbers_name_indexes_and_keys_stars_name_both() {
        assert!(names(
            &["items.1.p"],
            &[key("items"), Step::Index(1), key("p")]
        ));
        assert!(names(&["items.1.p"], &[key("items"), key("1"), key("p")]));
        assert!(!names(
            &["items.1.p"],
            &[key("items"), Step::Index(2), key("p")]
        ));
        assert!(names(&["*.p"], &[Step::Index(9), key("p")]));
        assert!(!names(&["*.p"], &[key("p")]));
    }

    #[test]
    fn undecoded_keys_match_only_wildcards() {
        assert!(names(&["*"], &[Step::Key(None)]));
        assert!(!names(&["a"], &[Step::Key(None)]));
    }

    #[test]
    fn positions_per_level_stay_within_the_configuration() {
        // However deep the document, a level holds at most every (path, segment) once.
        let paths: Vec<JsonPath> = ["**.a", "**.*.**.b", "*.**"]
            .iter()
            .map(|p| JsonPath::parse(p).unwrap())
            .collect();
        let set = set(&paths);
        let bound: usize = paths.iter().map(|p| p.len() + 1).sum();
        let mut alive = Vec::new();
        set.start(&mut alive);
        for depth in 0..200 {
            let mut next = Vec::new();
            set.step(
                &alive,
                key(if depth % 2 == 0 { "a" } else { "b" }),
                &mut next,
            );
            assert!(
                next.len() <= bound,
                "{} positions at depth {depth}",
                next.len()
            );
            alive = next;
        }
    }
}
