//! Paths into a JSON document, in the syntax of `redact.json_fields`: shared by redaction and
//! by whatever else names parts of a JSON body.
//!
//! A set of paths is compiled once, when the configuration is read (`JsonPaths`), into an
//! automaton matched while a document is read, level by level. Its states are the positions
//! (path, segment) of every path, numbered one after another; a level of the document holds
//! the set of positions alive there as a bitset, one `Position` per 64 states. Stepping into a
//! child is a few operations per word of the bitset (`**` keeps its bit, `*` moves it on by
//! one, past a `**` is one more shift), plus one look-up of the key in a sorted table of the
//! configured keys: the work per value is bounded by the configuration's size, fixed when it is
//! read, and does not grow with the number of paths that compare keys (issue 17: with N `**.`
//! paths, the former list of positions cost N squared per value). Matching is linear in the
//! document however many `*` and `**` the paths hold.

use crate::names::{folded, same_name};

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

/// One word of a level's bitset of alive positions: a level is `JsonPaths::words` of them, or
/// none at all when no position is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    bits: u64,
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
}

/// A list of paths compiled into the automaton that matches them all at once; built once, when
/// the configuration is read. Reads as the list (`paths.len()`, `paths.iter()`).
#[derive(Debug, Clone, Default)]
pub struct JsonPaths {
    paths: Vec<JsonPath>,
    automaton: Automaton,
}

impl PartialEq for JsonPaths {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths
    }
}

impl Eq for JsonPaths {}

impl From<Vec<JsonPath>> for JsonPaths {
    fn from(paths: Vec<JsonPath>) -> JsonPaths {
        let automaton = Automaton::new(&paths);
        JsonPaths { paths, automaton }
    }
}

impl FromIterator<JsonPath> for JsonPaths {
    fn from_iter<I: IntoIterator<Item = JsonPath>>(iter: I) -> JsonPaths {
        JsonPaths::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl std::ops::Deref for JsonPaths {
    type Target = [JsonPath];

    fn deref(&self) -> &[JsonPath] {
        &self.paths
    }
}

/// A configured key in `Automaton::keys`: the hash of its folded form, the folded form, and
/// each position waiting for it with the key as configured there.
type KeyEntry = (u64, String, Vec<(usize, String)>);

/// Bitsets over the positions, and the table of keys and indices, of a list of paths.
#[derive(Debug, Clone, Default)]
struct Automaton {
    /// Words per bitset.
    words: usize,
    /// Alive at the top of the document.
    start: Vec<u64>,
    /// Positions waiting at a `**`: they stay alive below, and so does the one past them.
    any_depth: Vec<u64>,
    /// Positions waiting at a `*`: any key or index moves them on.
    any: Vec<u64>,
    /// Positions waiting at a key (or a number, which is also an index).
    keyed: Vec<u64>,
    /// Positions past a path's last segment.
    complete: Vec<u64>,
    /// Every configured key, by the hash of its folded form (`folded_hash`), in order; with
    /// the folded key, the positions waiting for it and the key as configured (for
    /// `case_sensitive`).
    keys: Vec<KeyEntry>,
    /// Every number among the segments, in order, with the positions waiting for it.
    indices: Vec<(usize, Vec<usize>)>,
}

/// FNV-1a over the folded name (`names::folded`): names equal when case is ignored hash alike.
fn folded_hash(name: &str) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mix = |hash: u64, byte: u8| (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    let start = 0xcbf2_9ce4_8422_2325;
    if name.is_ascii() {
        return name
            .bytes()
            .fold(start, |hash, byte| mix(hash, byte.to_ascii_lowercase()));
    }
    name.chars().map(folded).fold(start, |hash, c| {
        let mut utf8 = [0; 4];
        c.encode_utf8(&mut utf8).bytes().fold(hash, mix)
    })
}

fn set_bit(words: &mut [u64], bit: usize) {
    if let Some(word) = words.get_mut(bit / 64) {
        *word |= 1 << (bit % 64);
    }
}

fn bit_is_set(words: &[Position], bit: usize) -> bool {
    words
        .get(bit / 64)
        .is_some_and(|word| word.bits & (1 << (bit % 64)) != 0)
}

impl Automaton {
    fn new(paths: &[JsonPath]) -> Automaton {
        let states: usize = paths.iter().map(|path| path.0.len() + 1).sum();
        let words = states.div_ceil(64);
        let mut automaton = Automaton {
            words,
            start: vec![0; words],
            any_depth: vec![0; words],
            any: vec![0; words],
            keyed: vec![0; words],
            complete: vec![0; words],
            keys: Vec::new(),
            indices: Vec::new(),
        };
        let mut keys: Vec<(String, usize, String)> = Vec::new();
        let mut indices: Vec<(usize, usize)> = Vec::new();
        let mut first = 0;
        for path in paths {
            set_bit(&mut automaton.start, first);
            for (at, segment) in path.0.iter().enumerate() {
                let bit = first + at;
                match segment {
                    Segment::AnyDepth => set_bit(&mut automaton.any_depth, bit),
                    Segment::Any => set_bit(&mut automaton.any, bit),
                    Segment::Key { key, index } => {
                        set_bit(&mut automaton.keyed, bit);
                        keys.push((key.chars().map(folded).collect(), bit, key.clone()));
                        if let Some(index) = index {
                            indices.push((*index, bit));
                        }
                    }
                }
            }
            set_bit(&mut automaton.complete, first + path.0.len());
            first += path.0.len() + 1;
        }
        let mut keys: Vec<(u64, String, usize, String)> = keys
            .into_iter()
            .map(|(folded_key, bit, key)| (folded_hash(&folded_key), folded_key, bit, key))
            .collect();
        keys.sort_unstable();
        for (hash, folded_key, bit, key) in keys {
            match automaton.keys.last_mut() {
                Some((_, last, waiting)) if *last == folded_key => waiting.push((bit, key)),
                _ => automaton.keys.push((hash, folded_key, vec![(bit, key)])),
            }
        }
        indices.sort_unstable();
        for (index, bit) in indices {
            match automaton.indices.last_mut() {
                Some((last, waiting)) if *last == index => waiting.push(bit),
                _ => automaton.indices.push((index, vec![bit])),
            }
        }
        let mut start: Vec<Position> = automaton
            .start
            .iter()
            .map(|&bits| Position { bits })
            .collect();
        automaton.close(&mut start);
        automaton.start = start.iter().map(|position| position.bits).collect();
        automaton
    }

    /// Adds to `alive` the positions past each alive `**` (which may match no level at all),
    /// and says whether a path is complete there and whether any position is alive. Repeated
    /// `**` were collapsed by `parse`, so one shift reaches them all (a position past a `**`
    /// is never at one).
    fn close(&self, alive: &mut [Position]) -> (bool, bool) {
        let (mut carry, mut complete, mut any_alive) = (0, false, false);
        for (at, word) in alive.iter_mut().enumerate() {
            let mask = |masks: &[u64]| masks.get(at).copied().unwrap_or(0);
            let at_any_depth = word.bits & mask(&self.any_depth);
            word.bits |= at_any_depth << 1 | carry;
            carry = at_any_depth >> 63;
            complete |= word.bits & mask(&self.complete) != 0;
            any_alive |= word.bits != 0;
        }
        (complete, any_alive)
    }

    /// The positions waiting for the key `actual` (compared folded; `step` compares exactly
    /// when `case_sensitive`), and the work the look-up took: hashing the key, a binary search
    /// among the hashes, the keys of equal hash compared.
    fn waiting_for_key(&self, actual: &str) -> (&[(usize, String)], usize) {
        let hash = folded_hash(actual);
        let first = self.keys.partition_point(|(other, _, _)| *other < hash);
        let probes = usize::BITS - self.keys.len().leading_zeros();
        let mut work = actual.len() + probes as usize;
        for (other, folded_key, waiting) in self.keys.iter().skip(first) {
            if *other != hash {
                break;
            }
            work += folded_key.len();
            if same_name(folded_key, actual, false) {
                return (waiting, work + waiting.len());
            }
        }
        (&[], work)
    }

    fn waiting_for_index(&self, actual: usize) -> &[usize] {
        self.indices
            .binary_search_by(|(index, _)| index.cmp(&actual))
            .ok()
            .and_then(|found| self.indices.get(found))
            .map_or(&[][..], |(_, bits)| bits.as_slice())
    }
}

/// A compiled list of paths with its key comparison (`redact.case_sensitive`).
#[derive(Debug, Clone, Copy)]
pub struct PathSet<'a> {
    pub paths: &'a JsonPaths,
    pub case_sensitive: bool,
}

impl PathSet<'_> {
    fn automaton(&self) -> &Automaton {
        &self.paths.automaton
    }

    /// The positions alive at the top of the document, pushed onto `out` (nothing when the set
    /// is empty).
    pub fn start(&self, out: &mut Vec<Position>) {
        let start = &self.automaton().start;
        if start.iter().any(|word| *word != 0) {
            out.extend(start.iter().map(|bits| Position { bits: *bits }));
        }
    }

    /// Pushes onto `out` the positions alive after `step` from `alive` (nothing when none is);
    /// returns the work done (every word of the bitsets, every key byte compared, every
    /// position found waiting for the key) and whether some path is complete there. No
    /// allocation beyond `out`'s growth.
    pub fn step(&self, alive: &[Position], step: Step<'_>, out: &mut Vec<Position>) -> Walked {
        if alive.is_empty() {
            return Walked {
                work: 1,
                complete: false,
            };
        }
        let automaton = self.automaton();
        let from = out.len();
        // `**` keeps its bit; `*` moves it on by one.
        let mut carry = 0;
        for at in 0..automaton.words {
            let word = alive.get(at).map_or(0, |p| p.bits);
            let mask = |masks: &[u64]| masks.get(at).copied().unwrap_or(0);
            let moved = word & mask(&automaton.any);
            out.push(Position {
                bits: word & mask(&automaton.any_depth) | moved << 1 | carry,
            });
            carry = moved >> 63;
        }
        let mut work = automaton.words;
        let next = out.get_mut(from..).unwrap_or_default();
        // A key or index moves on the positions waiting for it.
        let mut move_on = |bit: usize| {
            if bit_is_set(alive, bit) {
                if let Some(word) = next.get_mut((bit + 1) / 64) {
                    word.bits |= 1 << ((bit + 1) % 64);
                }
            }
        };
        match step {
            Step::Key(Some(actual)) if self.compares_keys(alive) => {
                let (waiting, cost) = automaton.waiting_for_key(actual);
                work += cost;
                waiting
                    .iter()
                    .filter(|(_, key)| !self.case_sensitive || key == actual)
                    .for_each(|(bit, _)| move_on(*bit));
            }
            Step::Key(_) => {}
            Step::Index(actual) => {
                let waiting = automaton.waiting_for_index(actual);
                work += waiting.len();
                waiting.iter().for_each(|bit| move_on(*bit));
            }
        }
        let (complete, any_alive) = automaton.close(next);
        if !any_alive {
            out.truncate(from);
        }
        Walked { work, complete }
    }

    /// Whether a whole path from the document's root matches one of the set: for callers that
    /// hold the path rather than walk the document with the automaton. Work: the path's
    /// length times the automaton's words, plus the keys' look-ups.
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
        alive
            .iter()
            .zip(&self.automaton().keyed)
            .any(|(word, mask)| word.bits & mask != 0)
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

    fn set(paths: &JsonPaths) -> PathSet<'_> {
        PathSet {
            paths,
            case_sensitive: false,
        }
    }

    /// Whether the document location `steps` is named by one of `paths`.
    fn names(paths: &[&str], steps: &[Step<'_>]) -> bool {
        let paths: JsonPaths = paths.iter().map(|p| JsonPath::parse(p).unwrap()).collect();
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
        let paths = JsonPaths::from(vec![JsonPath::parse("password").unwrap()]);
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
    fn work_per_step_is_fixed_by_the_configuration_not_paths_times_positions() {
        // `**.keyN` paths keep every position alive at every level: the former list of
        // positions cost the square of the paths per value (issue 17).
        let work_of = |count: usize, depth: usize| {
            let paths: JsonPaths = (0..count)
                .map(|i| JsonPath::parse(&format!("**.key{i}")).unwrap())
                .collect();
            let set = set(&paths);
            let mut alive = Vec::new();
            set.start(&mut alive);
            let mut total = 0;
            for level in 0..depth {
                let mut next = Vec::new();
                let step = if level % 2 == 0 {
                    key("other")
                } else {
                    Step::Index(level)
                };
                total += set.step(&alive, step, &mut next).work;
                assert_eq!(
                    next.len(),
                    alive.len(),
                    "the same positions, level after level"
                );
                alive = next;
            }
            total
        };
        assert_eq!(
            work_of(256, 400),
            2 * work_of(256, 200),
            "linear in the depth"
        );
        let (one, sixteen, many) = (work_of(1, 200), work_of(16, 200), work_of(256, 200));
        assert!(sixteen < 4 * one, "{one} -> {sixteen}");
        assert!(many < 8 * one, "{one} -> {many}: 256 times the paths");
    }

    /// What a path names, by the definition: each segment in turn, `**` any number of levels.
    fn reference(path: &[Segment], steps: &[Step<'_>], case_sensitive: bool) -> bool {
        match (path.split_first(), steps.split_first()) {
            (None, None) => true,
            (Some((Segment::AnyDepth, rest)), _) => {
                reference(rest, steps, case_sensitive)
                    || steps
                        .split_first()
                        .is_some_and(|(_, below)| reference(path, below, case_sensitive))
            }
            (Some((Segment::Any, rest)), Some((_, below))) => {
                reference(rest, below, case_sensitive)
            }
            (Some((Segment::Key { key, index }, rest)), Some((step, below))) => {
                let here = match step {
                    Step::Key(Some(actual)) => crate::names::same_name(key, actual, case_sensitive),
                    Step::Key(None) => false,
                    Step::Index(actual) => *index == Some(*actual),
                };
                here && reference(rest, below, case_sensitive)
            }
            _ => false,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn the_automaton_names_what_the_definition_names(
            texts in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec!["a", "B", "\u{17F}", "0", "1", "*", "**"]),
                    1..5,
                ),
                1..6,
            ),
            steps in proptest::collection::vec(0..7usize, 0..7),
            case_sensitive in proptest::bool::ANY,
        ) {
            let paths: JsonPaths = texts
                .iter()
                .filter_map(|segments| JsonPath::parse(&segments.join(".")))
                .collect();
            let steps: Vec<Step<'_>> = steps
                .iter()
                .map(|choice| match choice {
                    0 => key("a"),
                    1 => key("A"),
                    2 => key("b"),
                    3 => key("s"),
                    4 => Step::Index(0),
                    5 => key("1"),
                    _ => Step::Key(None),
                })
                .collect();
            let set = PathSet { paths: &paths, case_sensitive };
            let expected = paths
                .iter()
                .any(|path| reference(&path.0, &steps, case_sensitive));
            proptest::prop_assert_eq!(set.matches(steps.iter().copied()), expected);
        }
    }
}
