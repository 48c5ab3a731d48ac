//! The root's side of shadow verification: the comparisons pending in this worker, what ends
//! them, and the counters, log lines and summaries they end in. Plain Rust over the
//! `compare` modules; the root context feeds it what the host delivers.

use crate::budget::Reservation;
use crate::compare::accounting::TargetAccounts;
use crate::compare::pairing::{Candidate, Comparing, Missing, Pairing, Resolution, Resolved, Side};
use crate::compare::report::TargetReport;
use crate::compare::request::RequestInfo;
use crate::compare::response::{Body, Needs, NotCompared, Summary};
use crate::config::Target;
use crate::host::{MetricHost, SharedDataHost};
use crate::metrics::CompareCounter;
use crate::outbox::Job;
use crate::settings::Settings;
use crate::targets::TargetSet;
use std::rc::Rc;

pub struct Comparisons {
    pairing: Pairing,
    /// What the pending comparisons hold, against the worker's memory budget.
    held: Reservation,
    /// Per target of the settings: the report of a candidate (`None` for the others).
    reports: Vec<Option<TargetReport>>,
    /// Per target of the settings: a candidate's per-endpoint series.
    accounts: Vec<Option<TargetAccounts>>,
    /// Comparisons to diff in slices, each with its share of `held`, until the root takes
    /// them (`take_comparing`).
    comparing: Vec<(Comparing, Reservation)>,
}

/// Where the per-endpoint series go: the configuration they belong to (a hash of its text),
/// the host's metrics and its shared data.
#[derive(Debug, Clone, Copy)]
pub struct Accounting {
    pub configuration: u64,
    pub metrics: MetricHost,
    pub shared: SharedDataHost,
}

impl Comparisons {
    pub fn new(
        settings: &Settings,
        now_ns: u64,
        held: Reservation,
        accounting: Accounting,
    ) -> Comparisons {
        let targets = &settings.config.targets;
        let reports = targets
            .iter()
            .map(|target| target.compare.as_ref().map(|_| TargetReport::new(now_ns)))
            .collect();
        let accounts = targets
            .iter()
            .map(|target| {
                let spec = target.compare.as_ref()?;
                Some(TargetAccounts::new(
                    accounting.configuration,
                    &target.name,
                    &target.endpoints,
                    target.max_endpoints,
                    spec.max_fields_per_endpoint,
                    accounting.metrics,
                    accounting.shared,
                ))
            })
            .collect();
        Comparisons {
            pairing: Pairing::default(),
            held,
            reports,
            accounts,
            comparing: Vec::new(),
        }
    }

    /// A job's copies are about to go out: starts the comparison of each candidate among
    /// them, and says which targets' first copy must be captured, with what.
    pub fn start(&mut self, settings: &Settings, job: &Job, now_ns: u64) -> TargetSet {
        let Some(id) = job.pairing else {
            return TargetSet::default();
        };
        let targets = &settings.config.targets;
        let candidates: Vec<Candidate> = job
            .copies
            .targets
            .iter()
            .filter_map(|index| {
                let spec = targets.get(index)?.compare.as_ref()?;
                Some(Candidate {
                    target: index,
                    spec: Rc::clone(spec),
                })
            })
            .collect();
        if candidates.is_empty() {
            return TargetSet::default();
        }
        let timeout_ns = job
            .copies
            .targets
            .iter()
            .filter_map(|index| targets.get(index))
            .map(|target| u64::try_from(target.timeout.as_nanos()).unwrap_or(u64::MAX))
            .max()
            .unwrap_or(0);
        let method = job.request.header(":method").unwrap_or_default();
        let path = job.request.header(":path").unwrap_or_default();
        let mut request = RequestInfo::new(job.request.header("x-request-id"), method, path);
        for candidate in &candidates {
            if let Some(target) = targets.get(candidate.target) {
                request.add_endpoint(candidate.target, &target.endpoints, method, path);
            }
        }
        request.give_back_room();
        let request = Rc::new(request);
        let captured = captures(&candidates);
        for candidate in &candidates {
            if let Some((_, state)) = settings.target(candidate.target) {
                state.metrics.compare_pending(1);
            }
        }
        let resolved = self
            .pairing
            .start(id, now_ns, timeout_ns, candidates, request);
        self.settle(settings, resolved, now_ns);
        let mut wanted = TargetSet::default();
        for index in captured.iter() {
            if self.pairing.wants(id, Side::Target(index)) {
                wanted.insert(index);
            }
        }
        wanted
    }

    /// The original's response for request `pairing`, or the news that it never completed.
    pub fn original(
        &mut self,
        settings: &Settings,
        pairing: u64,
        summary: Option<Summary>,
        now_ns: u64,
    ) {
        let resolved = match summary.map(|summary| self.within_budget(summary)) {
            Some(summary) => self
                .pairing
                .arrive(pairing, Side::Original, summary, now_ns),
            None => self
                .pairing
                .missing(pairing, Side::Original, Missing::Incomplete, now_ns),
        };
        self.settle(settings, resolved, now_ns);
    }

    /// The comparisons whose bodies are to be diffed in slices, each with the share of the
    /// budget its summaries hold; each ends in `compared` (or `count_ended`).
    pub fn take_comparing(&mut self) -> Vec<(Comparing, Reservation)> {
        std::mem::take(&mut self.comparing)
    }

    /// A comparison diffed in slices has ended: counted, accounted and logged as any other.
    pub fn compared(&mut self, settings: &Settings, resolved: Resolved, now_ns: u64) {
        self.settle(settings, vec![resolved], now_ns);
    }

    /// A compared copy's response (`None`: it got no upstream answer).
    pub fn copy_answered(
        &mut self,
        settings: &Settings,
        pairing: u64,
        target: usize,
        summary: Option<Summary>,
        now_ns: u64,
    ) {
        let side = Side::Target(target);
        let resolved = match summary.map(|summary| self.within_budget(summary)) {
            Some(summary) => self.pairing.arrive(pairing, side, summary, now_ns),
            None => self
                .pairing
                .missing(pairing, side, Missing::NoAnswer, now_ns),
        };
        self.settle(settings, resolved, now_ns);
    }

    /// Ends the comparisons whose time is up, and writes the summaries that are due.
    pub fn tick(&mut self, settings: &Settings, now_ns: u64) {
        // Most ticks find no deadline past: then expiring changes nothing, nor does settling.
        if self
            .pairing
            .next_deadline()
            .is_some_and(|due| due <= now_ns)
        {
            let resolved = self.pairing.expire(now_ns);
            self.settle(settings, resolved, now_ns);
        }
        for (index, report) in self.reports.iter_mut().enumerate() {
            let (Some(report), Some((target, _))) = (report, settings.target(index)) else {
                continue;
            };
            let Some(spec) = &target.compare else {
                continue;
            };
            if let Some(line) = report.summary(spec, &target.name, now_ns) {
                log::info!("{line}");
            }
        }
        self.flush_accounts();
    }

    /// Hands the per-endpoint counts to the host.
    fn flush_accounts(&mut self) {
        for accounts in self.accounts.iter_mut().flatten() {
            accounts.flush();
        }
    }

    /// `side`'s response for request `pairing` is complete, its body being inflated: its
    /// comparisons wait for it.
    pub fn inflating(&mut self, pairing: u64, side: Side) {
        self.pairing.inflating(pairing, side);
    }

    /// Ends every pending comparison now (the settings are being retired).
    pub fn expire_all(&mut self, settings: &Settings, now_ns: u64) {
        let resolved = self.pairing.expire_all();
        self.settle(settings, resolved, now_ns);
        self.flush_accounts();
    }

    /// Whether the root must keep waking up: comparisons wait for a side (to expire them),
    /// or a window has counts whose summary is not written yet.
    pub fn waiting(&self, settings: &Settings) -> bool {
        let summary_due = |(report, target): (&Option<TargetReport>, &Target)| {
            let summarizes = target
                .compare
                .as_ref()
                .is_some_and(|spec| spec.summary_interval.is_some());
            summarizes && report.as_ref().is_some_and(TargetReport::has_counts)
        };
        !self.pairing.is_empty()
            || self.accounts.iter().flatten().any(TargetAccounts::pending)
            || self
                .reports
                .iter()
                .zip(&settings.config.targets)
                .any(summary_due)
    }

    pub fn bytes_held(&self) -> usize {
        self.pairing.bytes_held()
    }

    /// A response summary the worker's memory budget can hold while it waits: past the
    /// budget its body is left out (`body_not_compared_too_large`; status and headers are
    /// still compared).
    fn within_budget(&mut self, mut summary: Summary) -> Summary {
        if self.held.grow(summary.bytes_held()).is_err() {
            if let Body::Bytes(_) = summary.body {
                summary.body = Body::NotCompared(NotCompared::TooLarge);
            }
        }
        summary
    }

    /// Counts ended comparisons, logs their mismatches within the budget.
    fn settle(&mut self, settings: &Settings, mut resolved: Vec<Resolved>, now_ns: u64) {
        // Comparisons that left the table to be diffed in slices take their summaries' share
        // of what is held along, before it shrinks to what the table holds.
        for comparing in self.pairing.take_comparing() {
            let held = self.held.split_off(comparing.bytes_held());
            self.comparing.push((comparing, held));
        }
        // What the table holds now (summaries of ended comparisons are gone): shrinking a
        // reservation always succeeds.
        let _ = self
            .held
            .resize(self.pairing.bytes_held().min(self.held.bytes()));
        for ended in resolved.drain(..) {
            let Some((target, _)) = settings.target(ended.target) else {
                continue;
            };
            count_ended(settings, &ended);
            let accounts = self.accounts.get_mut(ended.target).and_then(Option::as_mut);
            if let (Resolution::Compared { verdict, .. }, Some(accounts), Some(spec)) =
                (&ended.outcome, accounts, &target.compare)
            {
                let endpoint = ended.request.endpoint(ended.target);
                let counted = accounts.record(endpoint, verdict, spec);
                if let Some(report) = self.reports.get_mut(ended.target).and_then(Option::as_mut) {
                    let id = ended.request.request_id();
                    report.record_endpoint(&counted, verdict.matched(), id);
                }
            }
            let report = self.reports.get_mut(ended.target).and_then(Option::as_mut);
            if let (Some(report), Some(spec)) = (report, &target.compare) {
                if let Some(line) = report.record(spec, &target.name, &ended, now_ns) {
                    log::warn!("{line}");
                }
            }
        }
        self.pairing.give_back(resolved);
    }
}

/// The targets whose first copy serves a comparison: every candidate, and every reference
/// target (a set: no list per compared request; what each keeps is `capture_needs`).
fn captures(candidates: &[Candidate]) -> TargetSet {
    let mut captured = TargetSet::default();
    for candidate in candidates {
        captured.insert(candidate.target);
        for index in candidate.spec.reference_targets() {
            captured.insert(index);
        }
    }
    captured
}

/// What the response of target `index`'s first copy of `job`'s request must keep, when
/// `Comparisons::start` said it serves a comparison: enough for every candidate it serves
/// (as the candidate, or as its reference).
pub fn capture_needs(settings: &Settings, job: &Job, index: usize) -> Needs {
    let targets = &settings.config.targets;
    let served = job.copies.targets.iter().filter_map(|target| {
        let spec = targets.get(target)?.compare.as_deref()?;
        let serves = target == index || spec.reference_targets().any(|r| r == index);
        serves.then_some(spec)
    });
    Needs::union(served)
}

/// Counts an ended comparison in its target's metrics (the counters only: what a replaced
/// configuration's comparison finishing in slices still gets, its window being gone).
pub fn count_ended(settings: &Settings, ended: &Resolved) {
    let Some((_, state)) = settings.target(ended.target) else {
        return;
    };
    state.metrics.compare_pending(-1);
    counters(&ended.outcome, |counter, n| {
        state.metrics.add_compare(counter, n)
    });
}

/// The counters an ended comparison adds to, each handed to `add`: its verdict, and the
/// details beside it (no list is built: an allocation per comparison in the VM).
fn counters(outcome: &Resolution, mut add: impl FnMut(CompareCounter, u32)) {
    let (verdict, without_reference) = match outcome {
        Resolution::Skipped(why) => return add(CompareCounter::from(*why), 1),
        Resolution::Compared {
            verdict,
            without_reference,
        } => (verdict, *without_reference),
    };
    let aspects = verdict.mismatched;
    if verdict.matched() {
        add(CompareCounter::Matched, 1);
    } else {
        add(CompareCounter::Mismatched, 1);
    }
    let details = [
        (aspects.status, CompareCounter::MismatchedStatus),
        (aspects.headers, CompareCounter::MismatchedHeaders),
        (aspects.body, CompareCounter::MismatchedBody),
        (without_reference, CompareCounter::ComparedWithoutReference),
    ];
    for (_, counter) in details.iter().filter(|(yes, _)| *yes) {
        add(*counter, 1);
    }
    if let Some(reason) = verdict.body_not_compared {
        add(CompareCounter::from(reason), 1);
    }
    if verdict.noise_fields() > 0 {
        add(CompareCounter::NoiseFields, verdict.noise_fields());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::config::Config;
    use crate::host::recording;

    fn summary(body: &[u8]) -> Summary {
        Summary {
            status: Some(200),
            grpc_status: None,
            headers: Vec::new(),
            body: Body::Bytes(body.to_vec()),
        }
    }

    #[test]
    fn a_summary_past_the_memory_budget_waits_without_its_body() {
        let json = r#"{"targets": [{"cluster": "c", "compare": {"body": "json"}}]}"#;
        let config = Config::parse(json.as_bytes()).unwrap();
        let settings = Settings::define(config, recording::METRICS).unwrap();
        let budget = Budget::new(4096);
        let accounting = Accounting {
            configuration: 1,
            metrics: recording::METRICS,
            shared: recording::SHARED_DATA,
        };
        let mut comparisons = Comparisons::new(&settings, 0, budget.reservation(), accounting);
        let kept = comparisons.within_budget(summary(&[b'1'; 1000]));
        assert!(matches!(kept.body, Body::Bytes(_)));
        assert!(budget.used() >= 1000, "reserved while it waits");
        let dropped = comparisons.within_budget(summary(&[b'1'; 4000]));
        assert_eq!(dropped.body, Body::NotCompared(NotCompared::TooLarge));
        drop(comparisons);
        assert_eq!(budget.used(), 0, "given back");
    }
}
