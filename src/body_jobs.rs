//! The body jobs a worker's root works through a slice per tick (see `slices`): a request
//! whose large body is redacted before its copies go out, a compared response whose
//! compressed body is inflated, a comparison whose large bodies are diffed. Plain Rust; the
//! root drives them (`root::on_tick`) and turns a finished one into the dispatch of its
//! copies (or the count of why they are not sent), a response handed to the comparisons, or
//! a comparison's end.

use crate::budget::Reservation;
use crate::compare::pairing::{Comparing, Resolved, Side};
use crate::compare::response::{InflationJob, Summary};
use crate::copy::{CapturedRequest, Skip};
use crate::redact::sliced::SlicedRedaction;
use crate::settings::Settings;
use crate::slices::{Progress, SLICE_BYTES};
use crate::targets::Copies;
use std::rc::Rc;

/// One job of the worker's queue: all kinds take turns in one round robin, so that a tick is
/// one slice whatever is being done.
pub enum BodyJob {
    // Boxed: a job moves from the queue's front to its back every turn.
    Redaction(Box<Unredacted>),
    Inflation(Box<Inflation>),
    Comparison(Box<Comparison>),
}

/// A job done, with what the root does with it.
pub enum Ended {
    /// The request is ready to go (`Ok`: the bytes each copy holds), or why it is not sent.
    Redacted(Box<Unredacted>, Result<usize, Skip>),
    /// The response's summary, its body inflated (or left out past the budget).
    Inflated(Box<Inflation>, Summary),
    /// The comparison's one end.
    Compared(Rc<Settings>, Resolved),
}

impl BodyJob {
    /// One slice of the job: `Err` hands it back with work left.
    pub fn slice(self) -> Result<Ended, BodyJob> {
        match self {
            BodyJob::Redaction(mut job) => match job.slice(SLICE_BYTES) {
                Progress::More => Err(BodyJob::Redaction(job)),
                Progress::Done(done) => Ok(Ended::Redacted(job, done)),
            },
            BodyJob::Inflation(mut job) => match job.slice() {
                Progress::More => Err(BodyJob::Inflation(job)),
                Progress::Done(summary) => Ok(Ended::Inflated(job, summary)),
            },
            BodyJob::Comparison(mut job) => match job.comparing.step(SLICE_BYTES) {
                Progress::More => Err(BodyJob::Comparison(job)),
                Progress::Done(resolved) => Ok(Ended::Compared(Rc::clone(&job.settings), resolved)),
            },
        }
    }
}

/// A compared response whose compressed body is inflated a slice at a time before it joins
/// its comparisons, under the settings it was captured with.
pub struct Inflation {
    pub settings: Rc<Settings>,
    pub pairing: u64,
    pub side: Side,
    job: InflationJob,
    /// What the job holds, against the worker's memory budget.
    held: Reservation,
}

impl Inflation {
    /// The job, if the budget can hold what it holds now; else the summary without its body.
    pub fn start(
        settings: Rc<Settings>,
        pairing: u64,
        side: Side,
        mut job: InflationJob,
        mut held: Reservation,
    ) -> Result<Inflation, Summary> {
        if held.resize(job.bytes_held()).is_err() {
            return Err(job.leave_body_out());
        }
        Ok(Inflation {
            settings,
            pairing,
            side,
            job,
            held,
        })
    }

    /// One slice; the output grows as it goes, and is held against the budget too: past it,
    /// the body is left out (`body_not_compared_too_large`).
    fn slice(&mut self) -> Progress<Summary> {
        match self.job.slice() {
            Progress::More if self.held.resize(self.job.bytes_held()).is_err() => {
                Progress::Done(self.job.leave_body_out())
            }
            progress => progress,
        }
    }
}

/// A comparison whose large bodies are diffed a slice at a time, under the settings it was
/// started with; it holds its summaries' share of the budget until it ends.
pub struct Comparison {
    pub settings: Rc<Settings>,
    pub comparing: Comparing,
    pub held: Reservation,
}

/// A complete request whose body is being redacted, a slice at a time, before its copies go
/// out: everything `outbox::Job` carries, plus the redaction in progress.
pub struct Unredacted {
    pub settings: Rc<Settings>,
    pub copies: Copies,
    pub request: CapturedRequest,
    /// What the request holds once for each of its copies, plus the redaction's output.
    pub reservation: Reservation,
    pub copy_count: usize,
    pub pairing: Option<u64>,
    pub redaction: SlicedRedaction,
}

impl Unredacted {
    /// One slice of the redaction. Done: the request is ready to go, its reservation being
    /// what each copy holds (the bytes per copy) times the copies; or why it is not sent.
    pub fn slice(&mut self, budget: usize) -> Progress<Result<usize, Skip>> {
        let redaction = &self.settings.config.redaction;
        let body = self.request.body_bytes();
        match self.redaction.step(body, redaction, budget) {
            Progress::More => {
                // The output grows as the slices go: it is held against the budget too.
                let held = self
                    .request
                    .held_bytes()
                    .saturating_mul(self.copy_count)
                    .saturating_add(self.redaction.bytes_held());
                if self.reservation.resize(held).is_err() {
                    return Progress::Done(Err(Skip::MemoryBudget));
                }
                Progress::More
            }
            Progress::Done(Err(refusal)) => Progress::Done(Err(Skip::from(refusal))),
            Progress::Done(Ok(redacted)) => {
                self.request.finish_with(redacted);
                let per_copy = self.request.held_bytes();
                let all = per_copy.saturating_mul(self.copy_count);
                if self.reservation.resize(all).is_err() {
                    return Progress::Done(Err(Skip::MemoryBudget));
                }
                Progress::Done(Ok(per_copy))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::config::Config;
    use crate::copy::capture_headers;
    use crate::host::recording;
    use crate::http::HeaderMap;
    use crate::targets::TargetSet;

    fn settings() -> Rc<Settings> {
        let json = r#"{"targets": [{"cluster": "c", "name": "c"}],
                      "redact": {"query_params": ["password"]}}"#;
        let config = Config::parse(json.as_bytes()).unwrap();
        Rc::new(Settings::define(config, recording::METRICS).unwrap())
    }

    fn unredacted(body: Vec<u8>, budget: &Rc<Budget>) -> Result<Unredacted, Skip> {
        let settings = settings();
        let headers = [
            (":method", "POST"),
            (":path", "/"),
            (":authority", "h"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]
        .map(|(n, v)| (n, v.as_bytes()));
        let mut request = capture_headers(
            &HeaderMap::from_pairs(headers.into_iter()),
            &settings.config,
        )?;
        request.append_body(body, usize::MAX)?;
        let mut reservation = budget.reservation();
        let held =
            request.held_bytes() + crate::slices::output_capacity(request.body_bytes().len());
        reservation.grow(held).map_err(|_| Skip::MemoryBudget)?;
        let redaction = request
            .sliced_redaction(&settings.config.redaction)?
            .ok_or(Skip::Unreadable)?;
        Ok(Unredacted {
            copies: Copies {
                targets: {
                    let mut targets = TargetSet::default();
                    targets.insert(0);
                    targets
                },
                carried: TargetSet::default(),
            },
            settings,
            request,
            reservation,
            copy_count: 1,
            pairing: None,
            redaction,
        })
    }

    fn run(job: &mut Unredacted) -> (usize, Result<usize, Skip>) {
        let mut slices = 0;
        loop {
            slices += 1;
            if let Progress::Done(done) = job.slice(SLICE_BYTES) {
                return (slices, done);
            }
        }
    }

    #[test]
    fn a_large_body_is_redacted_slice_by_slice_and_declares_its_new_length() {
        let budget = Budget::new(usize::MAX);
        let body = format!("password=hunter2&{}", "a=b&".repeat(100_000)).into_bytes();
        let length = body.len();
        let mut job = unredacted(body, &budget).unwrap();
        let (slices, done) = run(&mut job);
        // A slice's worth of bytes, or fewer where names are decided (each costs more).
        assert!(slices > length.div_ceil(SLICE_BYTES), "{slices}");
        let per_copy = done.unwrap();
        let body = job.request.body().unwrap();
        assert!(body.starts_with(b"password=REDACTED&a=b&"));
        assert_eq!(body.len(), length - "hunter2".len() + "REDACTED".len());
        assert_eq!(budget.used(), per_copy, "what the copy holds, no more");
    }

    /// A gzip response of `size` bytes of JSON, captured: the rest of it to inflate.
    fn inflation_job(size: usize) -> InflationJob {
        use crate::compare::response::{Capture, Finished, Needs};
        use crate::compare::spec::BodyMode;
        let json = format!("[{}0]", "12345678, ".repeat(size / 10)).into_bytes();
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        gz.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&json, 6));
        gz.extend_from_slice(&[0; 8]);
        let mut capture = Capture::new(Needs {
            body: BodyMode::Json,
            max_body_bytes: size * 2,
            headers: Vec::new(),
        });
        capture.headers(&HeaderMap::from_pairs(
            [("content-encoding", &b"gzip"[..])].into_iter(),
        ));
        // It compresses to less than a slice: one slice is inflated in the callback.
        capture.body_chunk(&gz);
        match capture.finish() {
            Finished::Inflating(job) => job,
            Finished::Ready(_) => panic!("larger than a slice: inflated by a job"),
        }
    }

    fn inflation(budget: &Rc<Budget>, size: usize) -> Result<Inflation, Summary> {
        let job = inflation_job(size);
        Inflation::start(settings(), 1, Side::Original, job, budget.reservation())
    }

    #[test]
    fn an_inflation_holds_its_growing_bytes_and_past_the_budget_leaves_the_body_out() {
        use crate::compare::response::{Body, NotCompared};
        let budget = Budget::new(usize::MAX);
        let mut job = inflation(&budget, 1 << 20).ok().unwrap();
        let mut slices = 0;
        let summary = loop {
            slices += 1;
            assert_eq!(
                budget.used(),
                job.job.bytes_held(),
                "what it holds, as it grows"
            );
            if let Progress::Done(summary) = job.slice() {
                break summary;
            }
        };
        // A slice's output at most each, one of them in the callback.
        assert!(
            slices + 1 >= (1 << 20) / crate::slices::INFLATE_SLICE_BYTES,
            "{slices}"
        );
        assert!(matches!(summary.body, Body::Bytes(ref b) if b.len() > 1_000_000));
        drop(job);
        assert_eq!(budget.used(), 0);
        // No room for what it holds at the start: the body is left out at once.
        let full = Budget::new(1000);
        let refused = inflation(&full, 1 << 20).err().unwrap();
        assert_eq!(refused.body, Body::NotCompared(NotCompared::TooLarge));
        // Room at the start, not for its output: left out when it outgrows the budget.
        let tight = Budget::new(usize::MAX);
        let mut job = inflation(&tight, 1 << 20).ok().unwrap();
        tight.set_limit(tight.used());
        let summary = loop {
            if let Progress::Done(summary) = job.slice() {
                break summary;
            }
        };
        assert_eq!(summary.body, Body::NotCompared(NotCompared::TooLarge));
        drop(job);
        assert_eq!(tight.used(), 0, "given back");
    }

    #[test]
    fn past_the_memory_budget_the_job_ends_and_gives_its_bytes_back() {
        let body = "a=b&".repeat(100_000).into_bytes();
        let budget = Budget::new(body.len() * 3);
        let mut job = unredacted(body, &budget).unwrap();
        budget.set_limit(0);
        // The output grows past what was reserved for it (a longer replacement): refused.
        job.reservation.resize(job.reservation.bytes() - 1).unwrap();
        let (_, done) = run(&mut job);
        assert_eq!(done, Err(Skip::MemoryBudget));
        drop(job);
        assert_eq!(budget.used(), 0);
    }
}
