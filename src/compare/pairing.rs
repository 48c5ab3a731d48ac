//! Responses waiting for their counterparts: the original's (or a reference target's) and
//! each candidate copy's, paired by an id given each compared request (unique per worker, e.g.
//! the HTTP context's id).
//!
//! Either side may arrive first, even before the request's `start` (the original's response
//! can end before the root dispatches the copies); neither waits for the other. A candidate is
//! compared as soon as its own response, its reference's and its noise baseline's are in (or
//! known missing), and every comparison started ends in exactly one `Resolution`: compared
//! (matched or mismatched), or skipped with its reason. Time is passed in (`now_ns`), so expiry is plain
//! data, tested without a clock.
//!
//! Memory is bounded twice over: at most `max_entries` pending requests (a comparison started
//! at the cap is skipped at once, `Skipped::Full`), and at most `max_bytes` of summaries (a
//! response arriving past that keeps its status and headers but not its body, which is then
//! counted `body_not_compared_too_large`).
//!
//! A comparison whose JSON bodies are larger than one slice is not diffed here: it leaves the
//! table as a `Comparing` job (`take_comparing`), which the root steps a slice per tick and
//! which ends in its one `Resolved` when its diff is done.

use super::request::RequestInfo;
use super::response::{Body, Needs, NotCompared, Summary};
use super::spec::{CompareSpec, Reference};
use super::verdict::{self, Begun, Verdict, VerdictJob};
use crate::slices::{Progress, SLICE_BYTES};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::size_of;
use std::rc::Rc;

/// Added to the copy's timeout: the copy's answer (or Envoy's 504) comes at the timeout, and
/// the original's response may still be streaming past.
pub const EXPIRY_MARGIN_NS: u64 = 1_000_000_000;
/// Pending compared requests per worker. With `max_in_flight` and timeouts of seconds, more
/// means a target is not answering; beyond it, new comparisons are skipped and counted.
pub const MAX_PENDING: usize = 1024;
/// Summaries held per worker (bodies are at most `max_body_bytes` each).
pub const MAX_PENDING_BYTES: usize = 32 << 20;
/// How long a response that came before its request's `start` is kept for it (the original's
/// response can end before the root has dispatched the copies, e.g. an early answer to an
/// upload). At most `max_entries` such requests are kept too; past that, or after this wait,
/// such a response is dropped: no comparison had started, so nothing is counted. A response
/// for a request whose comparisons already ended (its id is among the last `max_entries`
/// ended) is dropped at once.
pub const EARLY_WAIT_NS: u64 = 10_000_000_000;
/// The most ended comparisons a list given back (`Pairing::give_back`) keeps room for.
const MAX_SPARE_ROOM: usize = 64;

/// Whose response: the original request's, or a target's copy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Original,
    Target(usize),
}

/// A candidate target compared for a request.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub target: usize,
    pub spec: Rc<CompareSpec>,
}

impl Candidate {
    fn reference(&self) -> Side {
        match self.spec.against {
            Reference::Original => Side::Original,
            Reference::Target(index) => Side::Target(index),
        }
    }

    /// Every side this candidate's comparison needs.
    fn sides(&self) -> impl Iterator<Item = Side> + '_ {
        [Side::Target(self.target), self.reference()]
            .into_iter()
            .chain(self.spec.noise_baseline.map(Side::Target))
    }
}

/// Why a side will never arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The original's response never completed (the client went away, or it failed).
    Incomplete,
    /// The copy got no upstream answer: refused, failed, timed out.
    NoAnswer,
}

/// Why a comparison was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// The original's response never completed.
    Incomplete,
    /// A side never arrived in time.
    Expired,
    /// The candidate's copy, or the reference target's, got no upstream answer.
    NoAnswer,
    /// The table was full (`MAX_PENDING`).
    Full,
}

/// How one comparison ended: compared (with its verdict) or skipped (and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Compared {
        verdict: Verdict,
        /// The noise baseline's copy was refused, failed or timed out: compared without it.
        without_reference: bool,
    },
    Skipped(Skipped),
}

/// One candidate's comparison whose bodies are being diffed, a slice at a time: it has left
/// the table and ends in one `Resolved` when `step` is done.
pub struct Comparing {
    pub id: u64,
    pub target: usize,
    pub request: Rc<RequestInfo>,
    without_reference: bool,
    job: VerdictJob,
}

impl std::fmt::Debug for Comparing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Comparing")
            .field("id", &self.id)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Comparing {
    /// At most about `budget` bytes of the diff; the comparison's end once it is done.
    pub fn step(&mut self, budget: usize) -> Progress<Resolved> {
        match self.job.step(budget) {
            Progress::More => Progress::More,
            Progress::Done(verdict) => Progress::Done(Resolved {
                id: self.id,
                target: self.target,
                outcome: Resolution::Compared {
                    verdict,
                    without_reference: self.without_reference,
                },
                request: Rc::clone(&self.request),
            }),
        }
    }

    /// Memory the comparison holds until it ends.
    pub fn bytes_held(&self) -> usize {
        size_of::<Comparing>() + self.job.bytes_held() + self.request.bytes_held()
    }
}

/// One candidate's comparison, ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub id: u64,
    pub target: usize,
    pub outcome: Resolution,
    /// The request, for the mismatch log line.
    pub request: Rc<RequestInfo>,
}

#[derive(Debug)]
enum State {
    Waiting,
    /// Shared (a pointer: a waiting side then takes a few bytes, not a summary's), so that a
    /// comparison diffed in slices keeps the summaries it needs once it leaves the table.
    Arrived(Rc<Summary>),
    Missing(Missing),
    /// The response is complete, its compressed body being inflated a slice per tick: it
    /// will arrive, so its comparisons wait for it past their deadline (`expire`).
    Inflating,
}

#[derive(Debug)]
struct Entry {
    deadline_ns: u64,
    request: Rc<RequestInfo>,
    /// Candidates not resolved yet.
    candidates: Vec<Candidate>,
    sides: Sides,
    bytes: usize,
}

/// The sides a request's comparisons wait for: the usual two (a candidate and the original)
/// in place, any further ones in a list (no list, so no allocation, for the usual entry).
#[derive(Debug, Default)]
struct Sides {
    first: [Option<(Side, State)>; 2],
    more: Vec<(Side, State)>,
}

impl Sides {
    fn push(&mut self, side: Side, state: State) {
        match self.first.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some((side, state)),
            None => self.more.push((side, state)),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(Side, State)> {
        self.first.iter().flatten().chain(&self.more)
    }

    /// The state of `side`, if it is one of them.
    fn slot(&mut self, side: Side) -> Option<&mut State> {
        let mut all = self.first.iter_mut().flatten().chain(&mut self.more);
        all.find(|(s, _)| *s == side).map(|(_, state)| state)
    }
}

impl Entry {
    fn state(&self, side: Side) -> Option<&State> {
        self.sides
            .iter()
            .find(|(s, _)| *s == side)
            .map(|(_, state)| state)
    }

    fn overhead(&self) -> usize {
        size_of::<(u64, Entry)>()
            + size_of::<(u64, u64)>()
            + self.candidates.capacity() * size_of::<Candidate>()
            + self.sides.more.capacity() * size_of::<(Side, State)>()
            + self.request.bytes_held()
    }
}

/// Responses for a request not started yet.
#[derive(Debug)]
struct Early {
    deadline_ns: u64,
    sides: Vec<(Side, State)>,
    bytes: usize,
}

/// Pairing ids are the worker's own (`Outbox::next_pairing_id` counts them), never read from
/// a request, so no input can choose them: they are spread by a multiplication rather than
/// hashed with std's keyed SipHash (about 400 units of fuel a look-up in the VM, several
/// look-ups per comparison).
type ById = BuildHasherDefault<IdHasher>;

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Fibonacci hashing: consecutive ids land far apart, in the low bits and the high.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }
}

#[derive(Debug)]
pub struct Pairing {
    entries: HashMap<u64, Entry, ById>,
    early: HashMap<u64, Early, ById>,
    /// (deadline, id) of entries and early responses, soonest first.
    deadlines: BTreeSet<(u64, u64)>,
    /// The ids of the latest requests whose comparisons ended, oldest first: a response that
    /// comes for them now is late, not early.
    ended: VecDeque<u64>,
    ended_set: HashSet<u64, ById>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    /// Comparisons resolved to a diff in slices, until the caller takes them.
    comparing: Vec<Comparing>,
    /// An empty list of ended comparisons given back (`give_back`): the next ones are
    /// returned in it, so that ending a comparison allocates no list.
    spare: Vec<Resolved>,
}

impl Default for Pairing {
    fn default() -> Self {
        Pairing::new(MAX_PENDING, MAX_PENDING_BYTES)
    }
}

impl Pairing {
    pub fn new(max_entries: usize, max_bytes: usize) -> Pairing {
        Pairing {
            entries: HashMap::default(),
            early: HashMap::default(),
            ended: VecDeque::new(),
            ended_set: HashSet::default(),
            deadlines: BTreeSet::new(),
            bytes: 0,
            max_entries,
            max_bytes,
            comparing: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// A list of ended comparisons this table returned, gone through: its room serves the
    /// next ones (at most `MAX_SPARE_ROOM` of it).
    pub fn give_back(&mut self, mut spent: Vec<Resolved>) {
        spent.clear();
        if spent.capacity() <= MAX_SPARE_ROOM && self.spare.capacity() == 0 {
            self.spare = spent;
        }
    }

    /// Starts comparing `candidates` for request `id`, whose copies were just dispatched with
    /// `timeout_ns` (the longest of the copies'). At the cap, or for an id already pending,
    /// each candidate ends at once as `Skipped::Full`.
    pub fn start(
        &mut self,
        id: u64,
        now_ns: u64,
        timeout_ns: u64,
        candidates: Vec<Candidate>,
        request: Rc<RequestInfo>,
    ) -> Vec<Resolved> {
        if candidates.is_empty() {
            return Vec::new();
        }
        if self.entries.len() >= self.max_entries || self.entries.contains_key(&id) {
            return candidates
                .iter()
                .map(|c| Resolved {
                    id,
                    target: c.target,
                    outcome: Resolution::Skipped(Skipped::Full),
                    request: Rc::clone(&request),
                })
                .collect();
        }
        let mut sides = Sides::default();
        for side in candidates.iter().flat_map(Candidate::sides) {
            if !sides.iter().any(|(s, _)| *s == side) {
                sides.push(side, State::Waiting);
            }
        }
        let deadline_ns = now_ns
            .saturating_add(timeout_ns)
            .saturating_add(EXPIRY_MARGIN_NS);
        let mut entry = Entry {
            deadline_ns,
            request,
            candidates,
            sides,
            bytes: 0,
        };
        entry.bytes = entry.overhead();
        self.bytes += entry.bytes;
        if let Some(early) = self.early.remove(&id) {
            self.deadlines.remove(&(early.deadline_ns, id));
            self.bytes = self.bytes.saturating_sub(early.bytes);
            for (side, state) in early.sides {
                if let Some(slot) = entry.sides.slot(side) {
                    let held = state.bytes_held();
                    *slot = state;
                    entry.bytes += held;
                    self.bytes += held;
                }
            }
        }
        self.deadlines.insert((deadline_ns, id));
        self.entries.insert(id, entry);
        self.settle(id)
    }

    /// Whether request `id` still waits for `side`'s response (if not, the caller need not
    /// capture it).
    pub fn wants(&self, id: u64, side: Side) -> bool {
        self.entries.get(&id).is_some_and(|entry| {
            matches!(entry.state(side), Some(State::Waiting | State::Inflating))
                && entry
                    .candidates
                    .iter()
                    .any(|c| c.sides().any(|s| s == side))
        })
    }

    /// What to capture of `side`'s response for request `id`: enough for every candidate
    /// still waiting that uses it (`None` when none does).
    pub fn needs(&self, id: u64, side: Side) -> Option<Needs> {
        if !self.wants(id, side) {
            return None;
        }
        let entry = self.entries.get(&id)?;
        let users: Vec<&CompareSpec> = entry
            .candidates
            .iter()
            .filter(|candidate| candidate.sides().any(|s| s == side))
            .map(|candidate| &*candidate.spec)
            .collect();
        (!users.is_empty()).then(|| Needs::union(users))
    }

    /// `side`'s response for request `id` is complete. Sides already in are ignored (with
    /// `amplify`, only the first copy is compared); a response for a request not started yet
    /// is kept for it (`EARLY_WAIT_NS`).
    pub fn arrive(
        &mut self,
        id: u64,
        side: Side,
        mut summary: Summary,
        now_ns: u64,
    ) -> Vec<Resolved> {
        if self.entries.contains_key(&id) && !self.wants(id, side) {
            return Vec::new();
        }
        if self.bytes.saturating_add(summary.bytes_held()) > self.max_bytes {
            if let Body::Bytes(_) = summary.body {
                summary.body = Body::NotCompared(NotCompared::TooLarge);
            }
        }
        self.set(id, side, State::Arrived(Rc::new(summary)), now_ns)
    }

    /// `side`'s response for request `id` will never come.
    pub fn missing(&mut self, id: u64, side: Side, why: Missing, now_ns: u64) -> Vec<Resolved> {
        if self.entries.contains_key(&id) && !self.wants(id, side) {
            return Vec::new();
        }
        self.set(id, side, State::Missing(why), now_ns)
    }

    /// `side`'s response for request `id` is complete and will arrive once its body is
    /// inflated (bounded work: it always ends).
    pub fn inflating(&mut self, id: u64, side: Side) {
        if !self.wants(id, side) {
            return;
        }
        if let Some(entry) = self.entries.get_mut(&id) {
            if let Some(slot) = entry.sides.slot(side) {
                *slot = State::Inflating;
            }
        }
    }

    /// Ends every comparison whose time is up: what has not arrived by now never will. A
    /// comparison with a side being inflated waits for it (`EXPIRY_MARGIN_NS` at a time).
    pub fn expire(&mut self, now_ns: u64) -> Vec<Resolved> {
        self.expire_until(now_ns, true)
    }

    /// Ends every comparison now (their configuration is retired): sides being inflated too
    /// are taken as never coming.
    pub fn expire_all(&mut self) -> Vec<Resolved> {
        self.expire_until(u64::MAX, false)
    }

    fn expire_until(&mut self, now_ns: u64, wait_for_inflation: bool) -> Vec<Resolved> {
        let mut resolved = std::mem::take(&mut self.spare);
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now_ns {
                break;
            }
            self.deadlines.remove(&(deadline, id));
            let inflating = |entry: &Entry| {
                entry
                    .sides
                    .iter()
                    .any(|(_, state)| matches!(state, State::Inflating))
            };
            if let Some(entry) = self.entries.get_mut(&id) {
                if wait_for_inflation && inflating(entry) {
                    // A later deadline, so that the loop ends: `now_ns` is before it.
                    entry.deadline_ns = now_ns.saturating_add(EXPIRY_MARGIN_NS).max(deadline + 1);
                    self.deadlines.insert((entry.deadline_ns, id));
                    continue;
                }
            }
            if self
                .early
                .get(&id)
                .is_some_and(|e| e.deadline_ns == deadline)
            {
                if let Some(early) = self.early.remove(&id) {
                    self.bytes = self.bytes.saturating_sub(early.bytes);
                }
                continue;
            }
            if let Some(entry) = self.entries.remove(&id) {
                self.remember_ended(id);
                self.bytes = self.bytes.saturating_sub(entry.bytes);
                for candidate in &entry.candidates {
                    let decided = resolve(&entry, candidate, true)
                        .unwrap_or(Decided::Ended(Resolution::Skipped(Skipped::Expired)));
                    let aside = &mut self.comparing;
                    if let Some(ended) = ended_or_aside(aside, id, &entry, candidate, decided) {
                        resolved.push(ended);
                    }
                }
            }
        }
        resolved
    }

    /// The comparisons that left the table to be diffed in slices since the last call: each
    /// ends when its `step` is done (and nowhere else).
    pub fn take_comparing(&mut self) -> Vec<Comparing> {
        std::mem::take(&mut self.comparing)
    }

    /// When the next entry expires, if any (to schedule the next `expire`).
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Pending compared requests.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing pending, not even an early response.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.early.is_empty()
    }

    /// Memory held by pending entries and their summaries.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    fn set(&mut self, id: u64, side: Side, state: State, now_ns: u64) -> Vec<Resolved> {
        let held = state.bytes_held();
        let Some(entry) = self.entries.get_mut(&id) else {
            if !self.ended_set.contains(&id) {
                self.keep_early(id, side, state, now_ns);
            }
            return Vec::new();
        };
        if let Some(slot) = entry.sides.slot(side) {
            *slot = state;
        }
        entry.bytes += held;
        self.bytes += held;
        self.settle(id)
    }

    fn keep_early(&mut self, id: u64, side: Side, state: State, now_ns: u64) {
        let held = state.bytes_held();
        if let Some(early) = self.early.get_mut(&id) {
            if !early.sides.iter().any(|(s, _)| *s == side) {
                early.sides.push((side, state));
                early.bytes += held;
                self.bytes += held;
            }
            return;
        }
        if self.early.len() >= self.max_entries {
            return;
        }
        let deadline_ns = now_ns.saturating_add(EARLY_WAIT_NS);
        let bytes = size_of::<(u64, Early)>() + size_of::<(Side, State)>() + held;
        self.bytes += bytes;
        self.deadlines.insert((deadline_ns, id));
        self.early.insert(
            id,
            Early {
                deadline_ns,
                sides: vec![(side, state)],
                bytes,
            },
        );
    }

    /// Resolves the candidates of request `id` whose sides are in; drops the entry when none
    /// is left.
    fn settle(&mut self, id: u64) -> Vec<Resolved> {
        let Some(entry) = self.entries.get_mut(&id) else {
            return Vec::new();
        };
        let mut resolved = std::mem::take(&mut self.spare);
        let mut index = 0;
        while let Some(candidate) = entry.candidates.get(index) {
            match resolve(entry, candidate, false) {
                Some(decided) => {
                    let aside = &mut self.comparing;
                    resolved.extend(ended_or_aside(aside, id, entry, candidate, decided));
                    entry.candidates.swap_remove(index);
                }
                None => index += 1,
            }
        }
        if entry.candidates.is_empty() {
            let deadline = entry.deadline_ns;
            self.bytes = self.bytes.saturating_sub(entry.bytes);
            self.entries.remove(&id);
            self.deadlines.remove(&(deadline, id));
            self.remember_ended(id);
        }
        resolved
    }

    fn remember_ended(&mut self, id: u64) {
        if self.ended.len() >= self.max_entries {
            if let Some(oldest) = self.ended.pop_front() {
                self.ended_set.remove(&oldest);
            }
        }
        if self.ended_set.insert(id) {
            self.ended.push_back(id);
        }
    }
}

impl State {
    fn bytes_held(&self) -> usize {
        match self {
            State::Arrived(summary) => summary.bytes_held(),
            _ => 0,
        }
    }
}

/// A candidate's decided comparison: ended, or set aside to be diffed in slices.
fn ended_or_aside(
    aside: &mut Vec<Comparing>,
    id: u64,
    entry: &Entry,
    candidate: &Candidate,
    decided: Decided,
) -> Option<Resolved> {
    let request = Rc::clone(&entry.request);
    match decided {
        Decided::Ended(outcome) => Some(Resolved {
            id,
            target: candidate.target,
            outcome,
            request,
        }),
        Decided::Sliced(job, without_reference) => {
            aside.push(Comparing {
                id,
                target: candidate.target,
                request,
                without_reference,
                job,
            });
            None
        }
    }
}

/// How a candidate's comparison is decided: ended, or its bodies to be diffed in slices
/// (with whether it is compared without its reference).
enum Decided {
    Ended(Resolution),
    Sliced(VerdictJob, bool),
}

/// The candidate's outcome if its sides are in; `expiring`: sides still waiting never come.
///
/// A reference target's copy (`against` a target) that got no answer or timed out is
/// replaced by the noise baseline's, which runs the same version and got the same copy; a
/// missing noise baseline means no noise cancellation. Both are `compared_without_reference`.
fn resolve(entry: &Entry, candidate: &Candidate, expiring: bool) -> Option<Decided> {
    let skipped = |why| Some(Decided::Ended(Resolution::Skipped(why)));
    let own = entry.state(Side::Target(candidate.target))?;
    let reference = entry.state(candidate.reference())?;
    let baseline = match candidate.spec.noise_baseline {
        Some(baseline) => Some(entry.state(Side::Target(baseline))?),
        None => None,
    };
    let carried = candidate.reference() != Side::Original;
    let baseline_may_stand_in = carried
        && matches!(
            baseline,
            Some(State::Arrived(_) | State::Waiting | State::Inflating)
        );
    // What ends the comparison whatever else comes, first: nothing is held for it.
    match (own, reference) {
        (State::Missing(_), _) => return skipped(Skipped::NoAnswer),
        (_, State::Missing(Missing::Incomplete)) => return skipped(Skipped::Incomplete),
        (_, State::Missing(Missing::NoAnswer)) if !baseline_may_stand_in => {
            return skipped(Skipped::NoAnswer)
        }
        _ => {}
    }
    let own = match own {
        State::Arrived(own) => own,
        State::Waiting | State::Inflating if expiring => return skipped(Skipped::Expired),
        _ => return None,
    };
    let noise = match baseline {
        Some(State::Arrived(summary)) => Baseline::In(summary),
        Some(State::Waiting | State::Inflating) if !expiring => return None,
        Some(_) => Baseline::Gone,
        None => Baseline::NotConfigured,
    };
    let compare = |reference: &Rc<Summary>, noise: Option<&Rc<Summary>>, without_reference| {
        Some(
            match verdict::begin(&candidate.spec, own, reference, noise, SLICE_BYTES) {
                Begun::Done(verdict) => Decided::Ended(Resolution::Compared {
                    verdict,
                    without_reference,
                }),
                Begun::Sliced(job) => Decided::Sliced(job, without_reference),
            },
        )
    };
    match (reference, noise) {
        (State::Arrived(reference), Baseline::In(noise)) => compare(reference, Some(noise), false),
        (State::Arrived(reference), Baseline::NotConfigured) => compare(reference, None, false),
        (State::Arrived(reference), Baseline::Gone) => compare(reference, None, true),
        (State::Missing(Missing::Incomplete), _) => skipped(Skipped::Incomplete),
        (State::Waiting | State::Inflating, _) if !expiring => None,
        (State::Missing(_) | State::Waiting | State::Inflating, Baseline::In(noise)) if carried => {
            compare(noise, None, true)
        }
        (State::Missing(_), _) => skipped(Skipped::NoAnswer),
        (State::Waiting | State::Inflating, _) => skipped(Skipped::Expired),
    }
}

/// The noise baseline's response, for one candidate.
enum Baseline<'a> {
    NotConfigured,
    In(&'a Rc<Summary>),
    /// Refused, failed, timed out, or not in time.
    Gone,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::spec::BodyMode;
    use crate::endpoints::Endpoints;

    #[test]
    fn consecutive_pairing_ids_spread_over_the_table() {
        use std::hash::BuildHasher;
        let hashes: Vec<u64> = (1..=512u64)
            .map(|id| ById::default().hash_one(id))
            .collect();
        let distinct: HashSet<u64> = hashes.iter().copied().collect();
        assert_eq!(distinct.len(), hashes.len());
        // The table's buckets take the low bits, its tags the top seven.
        let low: HashSet<u64> = hashes.iter().map(|h| h % 512).collect();
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 300, "{} buckets", low.len());
        assert!(tags.len() > 100, "{} tags", tags.len());
    }

    const SECOND: u64 = 1_000_000_000;

    fn spec(against: Reference, noise: Option<usize>) -> Rc<CompareSpec> {
        Rc::new(CompareSpec {
            against,
            noise_baseline: noise,
            body: BodyMode::Json,
            ..CompareSpec::new()
        })
    }

    fn candidate(target: usize, spec: &Rc<CompareSpec>) -> Candidate {
        Candidate {
            target,
            spec: Rc::clone(spec),
        }
    }

    /// A request as `Comparisons::start` writes it: with its endpoint.
    fn request() -> Rc<RequestInfo> {
        let (method, path) = ("GET", "/api/items?token=REDACTED");
        let mut request = RequestInfo::new(Some("req-1"), method, path);
        request.add_endpoint(0, &Endpoints::default(), method, path);
        request.give_back_room();
        Rc::new(request)
    }

    fn summary(status: u16, body: &str) -> Summary {
        Summary {
            status: Some(status),
            grpc_status: None,
            headers: Vec::new(),
            body: Body::Bytes(body.as_bytes().to_vec()),
        }
    }

    fn matched(resolved: &[Resolved]) -> Vec<(usize, bool)> {
        resolved
            .iter()
            .map(|r| match &r.outcome {
                Resolution::Compared { verdict, .. } => (r.target, verdict.matched()),
                other => panic!("not compared: {other:?}"),
            })
            .collect()
    }

    fn skipped(resolved: &[Resolved]) -> Vec<(usize, Skipped)> {
        resolved
            .iter()
            .map(|r| match r.outcome {
                Resolution::Skipped(why) => (r.target, why),
                ref other => panic!("not skipped: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn either_side_may_arrive_first() {
        let original = spec(Reference::Original, None);
        for original_first in [true, false] {
            let mut table = Pairing::default();
            assert!(table
                .start(1, 0, SECOND, vec![candidate(0, &original)], request())
                .is_empty());
            assert!(table.wants(1, Side::Original) && table.wants(1, Side::Target(0)));
            let original_side = (Side::Original, summary(200, r#"{"a": 1}"#));
            let copy_side = (Side::Target(0), summary(200, r#"{"a": 2}"#));
            let (x, y) = if original_first {
                (original_side, copy_side)
            } else {
                (copy_side, original_side)
            };
            assert!(
                table.arrive(1, x.0, x.1, 0).is_empty(),
                "waits for the other side"
            );
            let resolved = table.arrive(1, y.0, y.1, 0);
            assert_eq!(matched(&resolved), [(0, false)]);
            assert!(table.is_empty() && table.bytes_held() == 0);
            assert_eq!(table.next_deadline(), None);
        }
    }

    #[test]
    fn a_missing_side_ends_the_comparison_with_its_reason() {
        let original = spec(Reference::Original, None);
        let against_target = spec(Reference::Target(1), None);
        let cases = [
            (
                &original,
                Side::Original,
                Missing::Incomplete,
                Skipped::Incomplete,
            ),
            (
                &original,
                Side::Target(0),
                Missing::NoAnswer,
                Skipped::NoAnswer,
            ),
            (
                &against_target,
                Side::Target(1),
                Missing::NoAnswer,
                Skipped::NoAnswer,
            ),
        ];
        for (spec, side, why, expected) in cases {
            let mut table = Pairing::default();
            table.start(7, 0, SECOND, vec![candidate(0, spec)], request());
            let resolved = table.missing(7, side, why, 0);
            assert_eq!(skipped(&resolved), [(0, expected)], "{side:?}");
            assert!(table.is_empty());
            assert!(
                table
                    .arrive(7, Side::Target(0), summary(200, ""), 0)
                    .is_empty(),
                "ended once"
            );
        }
    }

    #[test]
    fn a_missing_noise_baseline_means_compared_without_it() {
        let with_noise = spec(Reference::Target(1), Some(2));
        let mut table = Pairing::default();
        table.start(1, 0, SECOND, vec![candidate(0, &with_noise)], request());
        table.arrive(1, Side::Target(0), summary(200, r#"{"ts": 1}"#), 0);
        assert!(
            table
                .arrive(1, Side::Target(1), summary(200, r#"{"ts": 2}"#), 0)
                .is_empty(),
            "waits for the baseline"
        );
        assert!(
            !table.wants(1, Side::Original),
            "the original is not needed"
        );
        let resolved = table.missing(1, Side::Target(2), Missing::NoAnswer, 0);
        match &resolved[..] {
            [Resolved {
                outcome:
                    Resolution::Compared {
                        verdict,
                        without_reference: true,
                    },
                ..
            }] => {
                assert!(verdict.mismatched.body, "no noise to cancel ts");
            }
            other => panic!("{other:?}"),
        }
        // With the baseline in, the same difference is noise.
        table.start(2, 0, SECOND, vec![candidate(0, &with_noise)], request());
        table.arrive(2, Side::Target(0), summary(200, r#"{"ts": 1}"#), 0);
        table.arrive(2, Side::Target(2), summary(200, r#"{"ts": 3}"#), 0);
        let resolved = table.arrive(2, Side::Target(1), summary(200, r#"{"ts": 2}"#), 0);
        assert_eq!(matched(&resolved), [(0, true)]);
    }

    #[test]
    fn a_missing_reference_target_is_replaced_by_the_noise_baseline() {
        let with_noise = spec(Reference::Target(1), Some(2));
        let mut table = Pairing::default();
        table.start(1, 0, SECOND, vec![candidate(0, &with_noise)], request());
        table.arrive(1, Side::Target(0), summary(200, r#"{"a": 1}"#), 0);
        table.missing(1, Side::Target(1), Missing::NoAnswer, 0);
        let resolved = table.arrive(1, Side::Target(2), summary(200, r#"{"a": 1}"#), 0);
        match &resolved[..] {
            [Resolved {
                outcome:
                    Resolution::Compared {
                        verdict,
                        without_reference: true,
                    },
                ..
            }] => assert!(verdict.matched()),
            other => panic!("{other:?}"),
        }
        // Neither reference answered: nothing to compare with.
        table.start(2, 0, SECOND, vec![candidate(0, &with_noise)], request());
        table.arrive(2, Side::Target(0), summary(200, "{}"), 0);
        table.missing(2, Side::Target(2), Missing::NoAnswer, 0);
        let resolved = table.missing(2, Side::Target(1), Missing::NoAnswer, 0);
        assert_eq!(skipped(&resolved), [(0, Skipped::NoAnswer)]);
        // The reference timed out (never came): the baseline stands in at expiry.
        table.start(3, 0, SECOND, vec![candidate(0, &with_noise)], request());
        table.arrive(3, Side::Target(0), summary(200, "{}"), 0);
        table.arrive(3, Side::Target(2), summary(500, "{}"), 0);
        let resolved = table.expire(u64::MAX);
        match &resolved[..] {
            [Resolved {
                outcome:
                    Resolution::Compared {
                        verdict,
                        without_reference: true,
                    },
                ..
            }] => assert!(verdict.mismatched.status),
            other => panic!("{other:?}"),
        }
        // Against the original, an incomplete original is not replaced.
        let original = spec(Reference::Original, Some(2));
        table.start(4, 0, SECOND, vec![candidate(0, &original)], request());
        table.arrive(4, Side::Target(0), summary(200, "{}"), 0);
        table.arrive(4, Side::Target(2), summary(200, "{}"), 0);
        let resolved = table.missing(4, Side::Original, Missing::Incomplete, 0);
        assert_eq!(skipped(&resolved), [(0, Skipped::Incomplete)]);
    }

    #[test]
    fn candidates_sharing_a_request_are_resolved_each_when_ready() {
        let original = spec(Reference::Original, None);
        let against_target = spec(Reference::Target(2), None);
        let mut table = Pairing::default();
        table.start(
            1,
            0,
            SECOND,
            vec![candidate(0, &original), candidate(1, &against_target)],
            request(),
        );
        table.arrive(1, Side::Target(1), summary(200, "{}"), 0);
        assert_eq!(
            matched(&table.arrive(1, Side::Target(2), summary(200, "{}"), 0)),
            [(1, true)]
        );
        assert_eq!(table.len(), 1, "candidate 0 still waits");
        assert!(!table.wants(1, Side::Target(2)));
        table.arrive(1, Side::Original, summary(200, "{}"), 0);
        assert_eq!(
            matched(&table.arrive(1, Side::Target(0), summary(500, "{}"), 0)),
            [(0, false)]
        );
        assert!(table.is_empty());
    }

    #[test]
    fn each_side_is_captured_for_the_candidates_that_use_it() {
        let exact = Rc::new(CompareSpec {
            body: BodyMode::Exact,
            headers: vec!["etag".into()],
            ..CompareSpec::new()
        });
        let against_target = spec(Reference::Target(2), Some(3));
        let mut table = Pairing::default();
        table.start(
            1,
            0,
            SECOND,
            vec![candidate(0, &exact), candidate(1, &against_target)],
            request(),
        );
        let original = table.needs(1, Side::Original).unwrap();
        assert_eq!(
            (original.body, original.headers),
            (BodyMode::Exact, vec!["etag".to_string()])
        );
        assert_eq!(
            table.needs(1, Side::Target(2)).unwrap().body,
            BodyMode::Json
        );
        assert_eq!(
            table.needs(1, Side::Target(3)).unwrap().body,
            BodyMode::Json
        );
        assert_eq!(
            table.needs(1, Side::Target(0)).unwrap().body,
            BodyMode::Exact
        );
        assert_eq!(table.needs(1, Side::Target(4)), None, "not part of it");
        assert_eq!(table.needs(2, Side::Original), None, "not pending");
        table.missing(1, Side::Target(0), Missing::NoAnswer, 0);
        assert_eq!(
            table.needs(1, Side::Original),
            None,
            "its candidate is done"
        );
    }

    #[test]
    fn a_response_may_come_before_its_request_starts() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::default();
        assert!(table
            .arrive(5, Side::Original, summary(200, "{\"a\": 1}"), 0)
            .is_empty());
        assert!(
            !table.is_empty() && table.bytes_held() > 0,
            "kept for its start"
        );
        assert!(table
            .start(5, 1, SECOND, vec![candidate(0, &original)], request())
            .is_empty());
        let resolved = table.arrive(5, Side::Target(0), summary(200, "{\"a\": 1}"), 2);
        assert_eq!(matched(&resolved), [(0, true)]);
        assert!(table.is_empty() && table.bytes_held() == 0);
        // An original known incomplete before the start ends the comparison at the start.
        table.missing(6, Side::Original, Missing::Incomplete, 0);
        let resolved = table.start(6, 1, SECOND, vec![candidate(0, &original)], request());
        assert_eq!(skipped(&resolved), [(0, Skipped::Incomplete)]);
        // One never started is dropped after the wait, uncounted.
        table.arrive(7, Side::Original, summary(200, "{}"), 0);
        assert!(table.expire(EARLY_WAIT_NS - 1).is_empty() && !table.is_empty());
        assert!(table.expire(EARLY_WAIT_NS).is_empty());
        assert!(table.is_empty() && table.bytes_held() == 0);
    }

    #[test]
    fn a_response_after_its_comparisons_ended_is_dropped() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::default();
        table.start(1, 0, SECOND, vec![candidate(0, &original)], request());
        table.missing(1, Side::Target(0), Missing::NoAnswer, 0);
        assert!(table
            .arrive(1, Side::Original, summary(200, "{}"), 1)
            .is_empty());
        assert!(
            table.is_empty() && table.bytes_held() == 0,
            "not kept as early"
        );
        table.start(2, 0, SECOND, vec![candidate(0, &original)], request());
        table.expire(u64::MAX);
        table.arrive(2, Side::Original, summary(200, "{}"), 1);
        assert!(table.is_empty());
    }

    #[test]
    fn early_responses_are_bounded_too() {
        let mut table = Pairing::new(4, MAX_PENDING_BYTES);
        for id in 0..10 {
            table.arrive(id, Side::Original, summary(200, "{}"), 0);
        }
        assert_eq!(table.early.len(), 4);
    }

    #[test]
    fn repeated_arrivals_are_ignored() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::default();
        table.start(1, 0, SECOND, vec![candidate(0, &original)], request());
        table.arrive(1, Side::Target(0), summary(200, "1"), 0);
        let held = table.bytes_held();
        assert!(table
            .arrive(1, Side::Target(0), summary(500, "2"), 0)
            .is_empty());
        assert_eq!(table.bytes_held(), held);
        assert_eq!(
            matched(&table.arrive(1, Side::Original, summary(200, "1"), 0)),
            [(0, true)]
        );
        assert!(
            table
                .arrive(99, Side::Original, summary(200, "1"), 0)
                .is_empty(),
            "unknown id"
        );
    }

    #[test]
    fn entries_expire_with_the_timeout_plus_a_margin() {
        let original = spec(Reference::Original, None);
        let with_noise = spec(Reference::Original, Some(3));
        let mut table = Pairing::default();
        table.start(1, 10, 2 * SECOND, vec![candidate(0, &original)], request());
        table.start(2, 20, SECOND, vec![candidate(1, &with_noise)], request());
        table.arrive(2, Side::Original, summary(200, "{}"), 0);
        table.arrive(2, Side::Target(1), summary(200, "{}"), 0);
        assert_eq!(table.next_deadline(), Some(20 + SECOND + EXPIRY_MARGIN_NS));
        assert!(table.expire(20 + SECOND + EXPIRY_MARGIN_NS - 1).is_empty());
        let resolved = table.expire(20 + SECOND + EXPIRY_MARGIN_NS);
        match &resolved[..] {
            [Resolved {
                id: 2,
                outcome:
                    Resolution::Compared {
                        without_reference: true,
                        verdict,
                    },
                ..
            }] => {
                assert!(verdict.matched())
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(table.len(), 1);
        let resolved = table.expire(u64::MAX);
        assert_eq!(skipped(&resolved), [(0, Skipped::Expired)]);
        assert!(table.is_empty() && table.bytes_held() == 0);
        assert!(
            table
                .arrive(1, Side::Original, summary(200, "{}"), 0)
                .is_empty(),
            "too late"
        );
    }

    #[test]
    fn a_side_being_inflated_is_waited_for_past_the_deadline_but_not_past_retirement() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::default();
        table.start(1, 0, SECOND, vec![candidate(0, &original)], request());
        table.start(2, 0, SECOND, vec![candidate(0, &original)], request());
        for id in [1, 2] {
            table.arrive(id, Side::Original, summary(200, "{}"), 0);
            table.inflating(id, Side::Target(0));
        }
        assert!(table.expire(100 * SECOND).is_empty(), "it will come");
        let resolved = table.arrive(1, Side::Target(0), summary(200, "{}"), 100 * SECOND);
        assert_eq!(matched(&resolved), [(0, true)]);
        assert_eq!(skipped(&table.expire_all()), [(0, Skipped::Expired)]);
        assert!(table.is_empty() && table.bytes_held() == 0);
    }

    #[test]
    fn at_the_cap_new_comparisons_are_skipped_and_counted() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::new(2, MAX_PENDING_BYTES);
        table.start(1, 0, SECOND, vec![candidate(0, &original)], request());
        table.start(2, 0, SECOND, vec![candidate(0, &original)], request());
        let refused = table.start(
            3,
            0,
            SECOND,
            vec![candidate(0, &original), candidate(1, &original)],
            request(),
        );
        assert_eq!(skipped(&refused), [(0, Skipped::Full), (1, Skipped::Full)]);
        assert!(
            !table.wants(3, Side::Original),
            "nothing is captured for it"
        );
        assert_eq!(
            skipped(&table.start(2, 0, SECOND, vec![candidate(0, &original)], request())),
            [(0, Skipped::Full)]
        );
        table.missing(1, Side::Target(0), Missing::NoAnswer, 0);
        assert!(
            table
                .start(3, 0, SECOND, vec![candidate(0, &original)], request())
                .is_empty(),
            "room again"
        );
    }

    #[test]
    fn summaries_past_the_byte_budget_keep_status_and_headers_only() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::new(MAX_PENDING, 4096);
        table.start(1, 0, SECOND, vec![candidate(0, &original)], request());
        table.arrive(1, Side::Original, summary(200, &"x".repeat(3000)), 0);
        let held = table.bytes_held();
        assert!((3000..=4096).contains(&held), "{held}");
        let resolved = table.arrive(1, Side::Target(0), summary(200, &"x".repeat(3000)), 0);
        match &resolved[..] {
            [Resolved {
                outcome: Resolution::Compared { verdict, .. },
                ..
            }] => {
                assert_eq!(verdict.body_not_compared, Some(NotCompared::TooLarge));
                assert!(verdict.matched());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(table.bytes_held(), 0);
    }

    #[test]
    fn a_list_of_ended_comparisons_given_back_carries_the_next_ones() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::default();
        // Every list returned is given back, as `Comparisons` does.
        let compare = |table: &mut Pairing, id| {
            let started = table.start(id, 0, SECOND, vec![candidate(0, &original)], request());
            table.give_back(started);
            let half = table.arrive(id, Side::Original, summary(200, ""), 0);
            table.give_back(half);
            table.arrive(id, Side::Target(0), summary(200, ""), 0)
        };
        let first = compare(&mut table, 1);
        assert_eq!(first.len(), 1);
        let room = first.as_ptr();
        table.give_back(first);
        let second = compare(&mut table, 2);
        assert_eq!(second.iter().map(|r| r.id).collect::<Vec<_>>(), [2]);
        assert_eq!(second.as_ptr(), room, "the same list");
        let mut large = Vec::with_capacity(MAX_SPARE_ROOM + 1);
        large.extend(second);
        table.give_back(large);
        assert_eq!(table.expire_all().capacity(), 0, "a large list is let go");
    }

    #[test]
    fn bytes_per_pending_entry() {
        let original = spec(Reference::Original, None);
        let mut table = Pairing::default();
        table.start(1, 0, SECOND, vec![candidate(0, &original)], request());
        let empty = table.bytes_held();
        table.arrive(1, Side::Original, summary(200, ""), 0);
        let with_one = table.bytes_held();
        // The figures docs/metrics.md gives (native, 64-bit; wasm32's are smaller).
        println!(
            "entry {empty} B, + {} B per empty summary",
            with_one - empty
        );
        // With the request's endpoint label, as `Comparisons::start` writes it (416 B when
        // each part of the request was a string of its own).
        assert!(empty <= 416, "{empty}");
        assert!(with_one - empty <= 120, "{}", with_one - empty);
    }

    /// Whatever happens, in whatever order: every comparison started ends exactly once.
    #[test]
    fn every_started_comparison_ends_in_exactly_one_outcome() {
        let specs = [
            spec(Reference::Original, None),
            spec(Reference::Target(3), None),
            spec(Reference::Original, Some(4)),
        ];
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut table = Pairing::new(8, 1 << 20);
            let mut started = 0usize;
            let mut ended: HashMap<(u64, usize), usize> = HashMap::new();
            let mut now = 0u64;
            let mut record = |resolved: Vec<Resolved>| {
                for r in resolved {
                    *ended.entry((r.id, r.target)).or_default() += 1;
                }
            };
            for step in 0..2000u64 {
                now += rng.u64(0..SECOND / 4);
                let id = rng.u64(0..40);
                let side = match rng.usize(0..6) {
                    0 => Side::Original,
                    n => Side::Target(n - 1),
                };
                match rng.usize(0..10) {
                    0..=1 => {
                        let id = 1000 + step;
                        let chosen: Vec<Candidate> = (0..3)
                            .filter(|_| rng.bool())
                            .map(|i| candidate(i, &specs[i]))
                            .collect();
                        started += chosen.len();
                        record(table.start(id, now, rng.u64(1..3) * SECOND, chosen, request()));
                    }
                    2..=6 => {
                        // Recent ids, and ids not started yet (early responses).
                        let id = 980 + step + rng.u64(0..30);
                        let body = if rng.bool() {
                            "{\"a\": 1}"
                        } else {
                            "{\"a\": 2}"
                        };
                        record(table.arrive(id, side, summary(200, body), now));
                    }
                    7..=8 => {
                        let why = if rng.bool() {
                            Missing::Incomplete
                        } else {
                            Missing::NoAnswer
                        };
                        record(table.missing(980 + step + id % 30, side, why, now));
                    }
                    _ => record(table.expire(now)),
                }
                assert!(table.len() <= 8);
            }
            record(table.expire(u64::MAX));
            assert!(table.is_empty() && table.bytes_held() == 0);
            assert_eq!(ended.values().sum::<usize>(), started, "seed {seed}");
            assert!(
                ended.values().all(|n| *n == 1),
                "seed {seed}: one outcome each"
            );
        }
    }
}
