//! The diff's walk over two documents (`document`), with a noise baseline beside them: which
//! paths differ, which of those differ in the baseline too (noise), which are ignored.
//!
//! Each value of each document is visited at most twice (once in the pairwise walk, at most
//! once more in a deep comparison below a difference, which the walk does not enter), and
//! each visit costs a bounded number of path matches (patterns x depth, both bounded by the
//! configuration and `MAX_DEPTH`) and member look-ups: in place for objects of at most
//! `SMALL_OBJECT` members, else by hash (std's randomly keyed SipHash, so no input can make
//! keys collide on purpose).

use super::document::{find, key_of, same_key, Kind, Members, Side};
use crate::data_like;
use crate::json::number::numbers_equal;
use crate::json_path::{JsonPath, JsonPaths, PathSet, Step};

/// Differing paths named per comparison (more are counted, not named).
pub const MAX_PATHS: usize = 32;
/// A longer path is cut (keys are data and may be long).
pub const MAX_PATH_CHARS: usize = 200;
/// The path of the whole body: not JSON, or different types at the top.
pub const ROOT_PATH: &str = "$";

/// A path whose values are not compared (`compare.ignore_json_fields`), with its last segment
/// when that is a plain key: only a value with that key (or index) can match, a test far
/// cheaper than the full match, so it is made first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredPath {
    path: JsonPaths,
    last_key: Option<String>,
    last_index: Option<usize>,
}

impl IgnoredPath {
    /// `None` where `JsonPath::parse` refuses the text.
    pub fn parse(text: &str) -> Option<IgnoredPath> {
        let path = JsonPath::parse(text)?;
        // `redact.json_fields` syntax: segments separated by `.`; a segment with `*` is a
        // wildcard (`*`, `**`), which says nothing about the last key.
        let last_key = text
            .rsplit('.')
            .next()
            .filter(|last| !last.contains('*'))
            .map(String::from);
        let last_index = last_key.as_deref().and_then(|key| key.parse().ok());
        Some(IgnoredPath {
            path: JsonPaths::from(vec![path]),
            last_key,
            last_index,
        })
    }

    /// Whether the walk's `path` is this one (names compared exactly: a service's responses
    /// spell their own keys).
    pub(super) fn matches(&self, path: &[Part<'_>]) -> bool {
        let set = PathSet {
            paths: &self.path,
            case_sensitive: true,
        };
        set.matches(path.iter().map(|part| match part {
            Part::Key(key) => Step::Key(std::str::from_utf8(key).ok()),
            Part::Index(index) => Step::Index(*index),
        }))
    }

    /// Whether a value whose own key or index is `last` may match.
    pub(super) fn may_end_with(&self, last: &Part<'_>) -> bool {
        match (&self.last_key, last) {
            (None, _) => true,
            (Some(key), Part::Key(actual)) => key.as_bytes() == *actual,
            (Some(_), Part::Index(index)) => self.last_index == Some(*index),
        }
    }
}

/// A step of the walk's path: a member's key (decoded, borrowed from its document) or an
/// array index. Turned into `Step`s only to match an ignored path.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part<'d> {
    Key(&'d [u8]),
    Index(usize),
}

/// Candidate-vs-reference differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Differences {
    /// The first `MAX_PATHS` distinct differing paths, as `render` writes them (templates:
    /// data-like keys `{}`, indices `*`), in document order (the candidate's members
    /// first, then those only the reference has), each with whether it is noise (it differs
    /// between the reference and the noise baseline too).
    pub paths: Vec<(String, bool)>,
    /// All differing paths that are not noise.
    pub real: u32,
    /// All differing paths that are noise.
    pub noise: u32,
}

impl Differences {
    pub(super) fn add(&mut self, path: &[Part<'_>], noise: bool) {
        if noise {
            self.noise = self.noise.saturating_add(1);
        } else {
            self.real = self.real.saturating_add(1);
        }
        if self.paths.len() < MAX_PATHS {
            // Rendered paths are templates (`items.*.p`): each is listed once.
            let rendered = (render(path), noise);
            if !self.paths.contains(&rendered) {
                self.paths.push(rendered);
            }
        }
    }

    /// The first differing paths that are not noise.
    pub fn real_paths(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .filter(|(_, noise)| !noise)
            .map(|(path, _)| path.as_str())
    }
}

/// `a.*.b`, as `redact.json_fields` writes it, data-like keys as `{}` and indices as `*`
/// (`data_like`: a log line never carries a key that is data); `$` for the whole body. At most
/// `MAX_PATH_CHARS` characters are written (then `...`), so a path of long keys costs no more.
fn render(path: &[Part<'_>]) -> String {
    if path.is_empty() {
        return ROOT_PATH.to_string();
    }
    let mut text = String::new();
    let mut budget = MAX_PATH_CHARS;
    for (i, part) in path.iter().enumerate() {
        let segment = match part {
            Part::Key(key) => data_like::reported(key),
            Part::Index(_) => data_like::INDEX,
        };
        let separator = if i > 0 { "." } else { "" };
        for c in separator.chars().chain(segment.chars()) {
            if budget == 0 {
                text.push_str("...");
                return text;
            }
            text.push(c);
            budget -= 1;
        }
    }
    text
}

/// Where a walk is, and what it skips.
pub(super) struct Cursor<'d, 'p> {
    path: Vec<Part<'d>>,
    ignore: &'p [IgnoredPath],
    /// For numbers' canonical forms.
    scratch: (Vec<u8>, Vec<u8>),
}

impl<'d, 'p> Cursor<'d, 'p> {
    pub(super) fn new(ignore: &'p [IgnoredPath]) -> Self {
        Cursor {
            path: Vec::new(),
            ignore,
            scratch: (Vec::new(), Vec::new()),
        }
    }

    /// The path here.
    pub(super) fn path(&self) -> &[Part<'d>] {
        &self.path
    }

    /// Buffers for numbers' canonical forms and strings' decoded text.
    pub(super) fn scratch(&mut self) -> &mut (Vec<u8>, Vec<u8>) {
        &mut self.scratch
    }

    pub(super) fn push_key(&mut self, key: &'d [u8]) {
        self.path.push(Part::Key(key));
    }

    pub(super) fn push_index(&mut self, index: usize) {
        self.path.push(Part::Index(index));
    }

    pub(super) fn pop(&mut self) {
        self.path.pop();
    }

    /// Whether the path here is ignored. Inlined for the usual case, no ignored paths (a
    /// call per value visited cost about as much as the rest of the visit's bookkeeping).
    #[inline(always)]
    pub(super) fn ignored(&self) -> bool {
        !self.ignore.is_empty() && self.ignored_here()
    }

    #[inline(never)]
    fn ignored_here(&self) -> bool {
        ignored_parts(self.ignore, &self.path)
    }
}

/// What a walk skips, and its scratch buffers. The walk's path is kept as `Origin`s (no
/// borrow); it is written out as `Part`s only where it is looked at: a differing path
/// written, or, with ignored paths, a value whose key or index may end one.
struct WalkCursor<'d, 'p> {
    ignore: &'p [IgnoredPath],
    /// The path written out, as last needed.
    parts: Vec<Part<'d>>,
    /// For numbers' canonical forms.
    scratch: (Vec<u8>, Vec<u8>),
}

impl<'d, 'p> WalkCursor<'d, 'p> {
    fn new(ignore: &'p [IgnoredPath]) -> Self {
        WalkCursor {
            ignore,
            parts: Vec::new(),
            scratch: (Vec::new(), Vec::new()),
        }
    }

    /// Buffers for numbers' canonical forms and strings' decoded text.
    fn scratch(&mut self) -> &mut (Vec<u8>, Vec<u8>) {
        &mut self.scratch
    }

    /// `path` written out (in `sides`).
    fn parts(&mut self, sides: &Sides<'d>, path: &[Origin]) -> &[Part<'d>] {
        self.parts.clear();
        self.parts.extend(path.iter().map(|&step| sides.part(step)));
        &self.parts
    }

    /// Whether `path` is ignored. Inlined for the usual case, no ignored paths (a call per
    /// value visited cost about as much as the rest of the visit's bookkeeping).
    #[inline(always)]
    fn ignored(&mut self, sides: &Sides<'d>, path: &[Origin]) -> bool {
        !self.ignore.is_empty() && self.ignored_here(sides, path)
    }

    /// The path written out only when an ignored path may end with its last step.
    #[inline(never)]
    fn ignored_here(&mut self, sides: &Sides<'d>, path: &[Origin]) -> bool {
        let Some(&last) = path.last() else {
            return false;
        };
        let last = sides.part(last);
        let ignore = self.ignore;
        if !ignore.iter().any(|ignored| ignored.may_end_with(&last)) {
            return false;
        }
        let parts = self.parts(sides, path);
        ignored_parts(ignore, parts)
    }
}

/// Whether `path` is one of the `ignore`d.
fn ignored_parts(ignore: &[IgnoredPath], path: &[Part<'_>]) -> bool {
    let Some(last) = path.last() else {
        return false;
    };
    ignore
        .iter()
        .filter(|ignored| ignored.may_end_with(last))
        .any(|ignored| ignored.matches(path))
}

/// Which document of a walk's `Sides` a value is in.
#[derive(Debug, Clone, Copy)]
enum Role {
    A,
    B,
    /// The noise baseline (`b` without one).
    Noise,
}

/// The documents a walk compares, handed to each of its steps: `a`'s values against `b`'s,
/// with the noise baseline's beside them.
#[derive(Clone, Copy)]
pub(super) struct Sides<'d> {
    pub(super) a: Side<'d>,
    pub(super) b: Side<'d>,
    /// `None`: no noise baseline.
    pub(super) noise: Option<Side<'d>>,
}

impl<'d> Sides<'d> {
    fn get(&self, role: Role) -> Side<'d> {
        match role {
            Role::A => self.a,
            Role::B => self.b,
            Role::Noise => self.noise.unwrap_or(self.b),
        }
    }

    fn part(&self, step: Origin) -> Part<'d> {
        match step {
            Origin::Member(role, member) => Part::Key(key_of(self.get(role).0, member)),
            Origin::Index(index) => Part::Index(index),
        }
    }
}

/// A step of the path as it is kept between steps of the walk: no borrow of a document.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Member(Role, u32),
    Index(usize),
}

/// A pair of containers the walk is in, and how far through their members it is.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// `a`'s members, each with `b`'s of that key (`in_order`: `b`'s member tried first);
    /// `found`: `b`'s members found so far.
    Object {
        a: u32,
        b: u32,
        noise: Option<Option<u32>>,
        members: Members,
        in_order: Members,
        found: u32,
    },
    /// Then `b`'s members that `a` lacks.
    Rest {
        a: u32,
        noise: Option<Option<u32>>,
        members: Members,
    },
    Array {
        items_a: Members,
        items_b: Members,
        /// The baseline's items, where it has an array here.
        items_noise: Option<Members>,
        noise: bool,
        position: usize,
    },
}

/// A pair of containers a deep comparison is in.
#[derive(Debug, Clone, Copy)]
enum SameFrame {
    /// `a`'s members; then (`rest`) `b`'s, for those `a` lacks.
    Object {
        a: u32,
        b: u32,
        members: Members,
        rest: bool,
    },
    Array {
        items_a: Members,
        items_b: Members,
        position: usize,
    },
}

/// What a deep comparison decides at a value where the walk found a difference.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Whether `a` and `b` differ (then, with a baseline, whether `b` and the baseline do).
    Candidate {
        b: Option<u32>,
        noise: Option<Option<u32>>,
    },
    /// Whether `b` and the baseline differ: the difference is noise.
    Noise,
}

/// A deep comparison in progress: of `a`'s value and `b`'s, from a path of `base` steps.
#[derive(Debug, Clone, Copy)]
struct Deep {
    a: Role,
    b: Role,
    base: usize,
    then: Then,
}

/// The start of a comparison of two values.
enum Entered {
    Known(bool),
    Frame(SameFrame),
}

/// The work (in values) of writing a differing path (`render`, and the look for it among
/// those named): about what visiting this many values costs.
const RENDER_COST: usize = 8;

/// The most work (in values) a step of `Walk::run` does beyond its limit: a member stepped
/// to, its value visited, compared with its counterpart and with the baseline's, and its
/// path written.
pub(super) const OVERSHOOT: usize = 4 + RENDER_COST;

/// The pairwise walk of two documents (and the noise baseline beside them), resumable: it
/// holds no borrow, its path and its place in each container kept as indexes, with an
/// explicit stack (no recursion), so `run` can stop after any number of values and go on
/// later, given the same documents.
#[derive(Default)]
pub(super) struct Walk {
    started: bool,
    frames: Vec<Frame>,
    deep: Option<Deep>,
    deep_frames: Vec<SameFrame>,
    path: Vec<Origin>,
    pub(super) differences: Differences,
    /// Values visited (tests count the work with it).
    pub(super) visits: usize,
    /// The work done, in values: those visited, and `RENDER_COST` a differing path written.
    cost: usize,
}

impl Walk {
    /// Walks on until `work` reaches `limit` (in values: one per member or item stepped to
    /// and one per value visited, in the walk or a deep comparison below a difference, and
    /// `RENDER_COST` per differing path written; a step goes at most `OVERSHOOT` beyond):
    /// true when the walk is done.
    pub(super) fn run(
        &mut self,
        sides: Sides<'_>,
        ignore: &[IgnoredPath],
        work: &mut usize,
        limit: usize,
    ) -> bool {
        let sides = &sides;
        let mut cursor = WalkCursor::new(ignore);
        let before = self.cost;
        if !self.started {
            if *work >= limit {
                return false;
            }
            self.started = true;
            let root = sides.noise.map(|_| Some(0));
            self.visit(sides, &mut cursor, Some(0), Some(0), root);
        }
        let mut counted = self.cost;
        *work += counted - before;
        loop {
            if self.deep.is_none() && self.frames.is_empty() {
                return true;
            }
            if *work >= limit {
                return false;
            }
            if self.deep.is_some() {
                self.deep_step(sides, &mut cursor);
            } else {
                self.frame_step(sides, &mut cursor);
            }
            *work += 1 + (self.cost - counted);
            counted = self.cost;
        }
    }

    /// A value is compared: its step of the path goes (the root has none).
    fn done(&mut self) {
        if !self.frames.is_empty() {
            self.path.pop();
        }
    }

    /// Compares `a`'s value with `b`'s at the current path (`None`: absent). `noise` is the
    /// baseline's value there: `None` without a baseline, `Some(None)` if it has none.
    #[inline(always)]
    fn visit<'d>(
        &mut self,
        sides: &Sides<'d>,
        cursor: &mut WalkCursor<'d, '_>,
        a: Option<u32>,
        b: Option<u32>,
        noise: Option<Option<u32>>,
    ) {
        self.visits += 1;
        self.cost += 1;
        if cursor.ignored(sides, &self.path) {
            return self.done();
        }
        let (doc_a, doc_b) = (sides.a.0, sides.b.0);
        let node_a = a.and_then(|i| doc_a.node(i));
        let node_b = b.and_then(|i| doc_b.node(i));
        let (kind_a, kind_b) = (node_a.map(|n| n.kind), node_b.map(|n| n.kind));
        match (kind_a, kind_b, a, b) {
            (Some(Kind::Object), Some(Kind::Object), Some(a), Some(b)) => {
                self.frames.push(Frame::Object {
                    a,
                    b,
                    noise,
                    members: doc_a.members(a),
                    in_order: doc_b.members(b),
                    found: 0,
                });
            }
            (Some(Kind::Array), Some(Kind::Array), Some(a), Some(b)) => {
                let items_noise = sides.noise.zip(noise.flatten()).and_then(|((doc, _), n)| {
                    (doc.node(n)?.kind == Kind::Array).then(|| doc.members(n))
                });
                self.frames.push(Frame::Array {
                    items_a: doc_a.members(a),
                    items_b: doc_b.members(b),
                    items_noise,
                    noise: noise.is_some(),
                    position: 0,
                });
            }
            _ => {
                // Two scalars of one kind, the usual leaf, are compared here at once (as
                // the deep comparison would, without looking them up again).
                let equal_scalars = match (node_a, node_b) {
                    (Some(x), Some(y)) if x.kind == y.kind => {
                        let (x, y) = (doc_a.text(x.value), doc_b.text(y.value));
                        if kind_a == Some(Kind::Number) {
                            numbers_equal(x, y, cursor.scratch())
                        } else {
                            same_key(x, y)
                        }
                    }
                    _ => false,
                };
                if equal_scalars {
                    return self.done();
                }
                let then = Then::Candidate { b, noise };
                self.compare(sides, cursor, then, (Role::A, a), (Role::B, b));
            }
        }
    }

    /// Starts the deep comparison of two values (ignored paths left out), finished at once
    /// unless both are containers of one kind.
    fn compare<'d>(
        &mut self,
        sides: &Sides<'d>,
        cursor: &mut WalkCursor<'d, '_>,
        then: Then,
        (role_a, a): (Role, Option<u32>),
        (role_b, b): (Role, Option<u32>),
    ) {
        self.visits += 1;
        self.cost += 1;
        let base = self.path.len();
        match enter(sides, cursor, &self.path, (role_a, a), (role_b, b)) {
            Entered::Known(same) => self.compared(sides, cursor, then, same),
            Entered::Frame(frame) => {
                self.deep_frames.clear();
                self.deep_frames.push(frame);
                self.deep = Some(Deep {
                    a: role_a,
                    b: role_b,
                    base,
                    then,
                });
            }
        }
    }

    /// A difference at the path here, counted (and its path written while fewer than
    /// `MAX_PATHS` are named: `RENDER_COST` more work).
    fn difference<'d>(&mut self, sides: &Sides<'d>, cursor: &mut WalkCursor<'d, '_>, noise: bool) {
        if self.differences.paths.len() < MAX_PATHS {
            self.cost += RENDER_COST;
            let parts = cursor.parts(sides, &self.path);
            self.differences.add(parts, noise);
        } else {
            // Only counted: the path is not written.
            self.differences.add(&[], noise);
        }
    }

    /// A deep comparison's answer.
    fn compared<'d>(
        &mut self,
        sides: &Sides<'d>,
        cursor: &mut WalkCursor<'d, '_>,
        then: Then,
        same: bool,
    ) {
        match then {
            Then::Candidate { .. } if same => self.done(),
            Then::Candidate { b, noise: Some(n) } => {
                // A noise value is only given with a noise document.
                self.compare(sides, cursor, Then::Noise, (Role::B, b), (Role::Noise, n));
            }
            Then::Candidate { noise: None, .. } => {
                self.difference(sides, cursor, false);
                self.done();
            }
            Then::Noise => {
                self.difference(sides, cursor, !same);
                self.done();
            }
        }
    }

    /// One member or item of the deep comparison in progress.
    fn deep_step<'d>(&mut self, sides: &Sides<'d>, cursor: &mut WalkCursor<'d, '_>) {
        let Some(deep) = self.deep else {
            return;
        };
        let (side_a, side_b) = (sides.get(deep.a), sides.get(deep.b));
        let (doc_a, doc_b) = (side_a.0, side_b.0);
        let Some(frame) = self.deep_frames.last_mut() else {
            self.deep = None;
            return self.compared(sides, cursor, deep.then, true);
        };
        // `None`: the frame is done, its values equal (else the member or item stepped to,
        // its step of the path taken).
        let entered = match frame {
            SameFrame::Object {
                a,
                b,
                members,
                rest: false,
            } => match members.next(doc_a) {
                Some(child) => {
                    let key = key_of(doc_a, child);
                    let other = find(side_b, *b, key);
                    self.path.push(Origin::Member(deep.a, child));
                    self.visits += 1;
                    self.cost += 1;
                    let path = &self.path;
                    Some(enter(
                        sides,
                        cursor,
                        path,
                        (deep.a, Some(child)),
                        (deep.b, other),
                    ))
                }
                None => {
                    *frame = SameFrame::Object {
                        a: *a,
                        b: *b,
                        members: doc_b.members(*b),
                        rest: true,
                    };
                    return;
                }
            },
            SameFrame::Object {
                a,
                members,
                rest: true,
                ..
            } => match members.next(doc_b) {
                Some(child) => {
                    // Members only `b` has: equal only where ignored.
                    let key = key_of(doc_b, child);
                    if find(side_a, *a, key).is_some() {
                        return;
                    }
                    self.path.push(Origin::Member(deep.b, child));
                    if cursor.ignored(sides, &self.path) {
                        self.path.pop();
                        return;
                    }
                    Some(Entered::Known(false))
                }
                None => None,
            },
            SameFrame::Array {
                items_a,
                items_b,
                position,
            } => {
                let (item_a, item_b) = (items_a.next(doc_a), items_b.next(doc_b));
                if item_a.is_none() && item_b.is_none() {
                    None
                } else {
                    self.path.push(Origin::Index(*position));
                    *position += 1;
                    self.visits += 1;
                    self.cost += 1;
                    let path = &self.path;
                    Some(enter(
                        sides,
                        cursor,
                        path,
                        (deep.a, item_a),
                        (deep.b, item_b),
                    ))
                }
            }
        };
        match entered {
            Some(Entered::Known(true)) => {
                self.path.pop();
            }
            Some(Entered::Known(false)) => {
                self.path.truncate(deep.base);
                self.deep = None;
                self.compared(sides, cursor, deep.then, false);
            }
            Some(Entered::Frame(frame)) => {
                self.deep_frames.push(frame);
            }
            None => {
                self.deep_frames.pop();
                if self.deep_frames.is_empty() {
                    self.deep = None;
                    self.compared(sides, cursor, deep.then, true);
                } else {
                    self.path.pop();
                }
            }
        }
    }

    /// One member or item of the containers the walk is in.
    fn frame_step<'d>(&mut self, sides: &Sides<'d>, cursor: &mut WalkCursor<'d, '_>) {
        let (doc_a, doc_b) = (sides.a.0, sides.b.0);
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        // The next pair of values: its step of the path, `a`'s, `b`'s and the baseline's.
        let next = match frame {
            Frame::Object {
                a,
                b,
                noise,
                members,
                in_order,
                found,
            } => match members.next(doc_a) {
                Some(child) => {
                    let key = key_of(doc_a, child);
                    // Members usually come in the same order on both sides: try the next
                    // one first.
                    let in_b = in_order
                        .next(doc_b)
                        .filter(|other| same_key(key_of(doc_b, *other), key))
                        .or_else(|| find(sides.b, *b, key));
                    *found += u32::from(in_b.is_some());
                    let in_noise = member(sides.noise, *noise, key);
                    Some((Origin::Member(Role::A, child), Some(child), in_b, in_noise))
                }
                // Every member of `b` was found (keys are unique): none is `b`'s alone.
                None if doc_b.node(*b).is_some_and(|n| n.value.len == *found) => None,
                None => {
                    let members = doc_b.members(*b);
                    *frame = Frame::Rest {
                        a: *a,
                        noise: *noise,
                        members,
                    };
                    return;
                }
            },
            Frame::Rest { a, noise, members } => match members.next(doc_b) {
                Some(child) => {
                    let key = key_of(doc_b, child);
                    if find(sides.a, *a, key).is_some() {
                        return;
                    }
                    let in_noise = member(sides.noise, *noise, key);
                    Some((Origin::Member(Role::B, child), None, Some(child), in_noise))
                }
                None => None,
            },
            Frame::Array {
                items_a,
                items_b,
                items_noise,
                noise,
                position,
            } => {
                let (item_a, item_b) = (items_a.next(doc_a), items_b.next(doc_b));
                if item_a.is_none() && item_b.is_none() {
                    None
                } else {
                    let item_noise = noise.then(|| {
                        let baseline = sides.noise.map(|(doc, _)| doc);
                        items_noise
                            .as_mut()
                            .zip(baseline)
                            .and_then(|(items, doc)| items.next(doc))
                    });
                    let step = Origin::Index(*position);
                    *position += 1;
                    Some((step, item_a, item_b, item_noise))
                }
            }
        };
        match next {
            Some((origin, a, b, noise)) => {
                self.path.push(origin);
                self.visit(sides, cursor, a, b, noise);
            }
            None => {
                self.frames.pop();
                self.done();
            }
        }
    }
}

/// The start of the deep comparison of `a`'s value and `b`'s (`None`: absent), at the
/// cursor's path: the answer, or the pair of containers to go through.
fn enter<'d>(
    sides: &Sides<'d>,
    cursor: &mut WalkCursor<'d, '_>,
    path: &[Origin],
    (role_a, a): (Role, Option<u32>),
    (role_b, b): (Role, Option<u32>),
) -> Entered {
    if cursor.ignored(sides, path) {
        return Entered::Known(true);
    }
    let (Some(a), Some(b)) = (a, b) else {
        return Entered::Known(a.is_none() && b.is_none());
    };
    let (doc_a, doc_b) = (sides.get(role_a).0, sides.get(role_b).0);
    let (Some(node_a), Some(node_b)) = (doc_a.node(a), doc_b.node(b)) else {
        return Entered::Known(false);
    };
    if node_a.kind != node_b.kind {
        return Entered::Known(false);
    }
    Entered::Known(match node_a.kind {
        Kind::Object => {
            return Entered::Frame(SameFrame::Object {
                a,
                b,
                members: doc_a.members(a),
                rest: false,
            })
        }
        Kind::Array => {
            return Entered::Frame(SameFrame::Array {
                items_a: doc_a.members(a),
                items_b: doc_b.members(b),
                position: 0,
            })
        }
        Kind::Number => numbers_equal(
            doc_a.text(node_a.value),
            doc_b.text(node_b.value),
            cursor.scratch(),
        ),
        _ => same_key(doc_a.text(node_a.value), doc_b.text(node_b.value)),
    })
}

/// The noise baseline's member `key` of its value `noise`.
#[inline(always)]
fn member(side: Option<Side<'_>>, noise: Option<Option<u32>>, key: &[u8]) -> Option<Option<u32>> {
    let side = side?;
    Some(noise.flatten().and_then(|n| {
        let object = side.0.node(n)?.kind == Kind::Object;
        object.then(|| find(side, n, key)).flatten()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheap test on the last key never disagrees with the full match.
    #[test]
    fn ignored_paths_match_as_json_paths_do() {
        let steps = |text: &'static str| -> Vec<Step<'static>> {
            text.split('.')
                .map(|s| match s.parse() {
                    Ok(index) => Step::Index(index),
                    Err(_) => Step::Key(Some(s)),
                })
                .collect()
        };
        let patterns = ["a", "a.b", "a.*", "a.*.c", "*", "a.0", "0", "a.*.0"];
        let paths = [
            "a", "b", "a.b", "a.c", "a.0", "a.1", "a.x.c", "a.3.c", "a.3.0", "0", "x.0",
        ];
        for pattern in patterns {
            let ignored = IgnoredPath::parse(pattern).unwrap();
            for path in paths {
                let steps = steps(path);
                let parts: Vec<Part<'_>> = steps
                    .iter()
                    .map(|step| match step {
                        Step::Key(key) => Part::Key(key.unwrap_or_default().as_bytes()),
                        Step::Index(index) => Part::Index(*index),
                    })
                    .collect();
                assert_eq!(
                    ignored_parts(std::slice::from_ref(&ignored), &parts),
                    PathSet {
                        paths: &JsonPaths::from(vec![JsonPath::parse(pattern).unwrap()]),
                        case_sensitive: true
                    }
                    .matches(steps.iter().copied()),
                    "{pattern} on {path}"
                );
            }
        }
        assert_eq!(IgnoredPath::parse("a..b"), None);
    }
}
