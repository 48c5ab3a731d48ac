//! The plugin's own work on large bodies, done in slices: no callback holds the worker.
//!
//! Each Envoy worker is one thread, so whatever a callback does, every other request on that
//! worker waits for it. Work whose cost grows with a body (redaction, decompression of a
//! compared response, the diff of compared bodies) is therefore a resumable job: each root
//! timer tick does one slice of it, at most `SLICE_BYTES` bytes (`INFLATE_SLICE_BYTES` for
//! decompression), and the next tick resumes where it stopped. A body of at
//! most one slice is still done at once, in the callback that completes it (as small requests
//! always were): it costs no more than one slice, and waits for no tick.
//!
//! Fairness: the jobs of one worker take turns, one slice per tick in all, the job whose turn
//! it is going to the back of the queue after its slice (round robin). A tick's work is thus
//! one slice whatever the number of jobs; a new job waits at most one turn of each job queued
//! before it. This module is the queue only (plain data, unit-tested); `root` drives it.

use std::collections::VecDeque;

/// The most bytes of a body one slice works through (read, written or decompressed): at the
/// plugin's costliest per byte (multipart search, inflating), about a million instructions,
/// half a millisecond of one core (measured: docs/performance.md, Work in slices).
pub const SLICE_BYTES: usize = 64 * 1024;

/// The most bytes one slice of decompression takes in and puts out: inflating a compared
/// response body (and hashing it, for `body: "exact"`) costs about four times redaction's
/// work per byte (measured: docs/performance.md, Work in slices), so its slices are a quarter.
pub const INFLATE_SLICE_BYTES: usize = 16 * 1024;

/// The capacity of a sliced redaction's output for a body of `length` bytes: a quarter more,
/// so that replacements longer than the values they replace seldom outgrow it (growing it
/// copies all that is written so far, in one slice).
pub fn output_capacity(length: usize) -> usize {
    length.saturating_add(length / 4)
}

/// Where a job is after a slice.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress<T> {
    /// Work is left: the job waits for its next turn.
    More,
    /// The job is done, with its result.
    Done(T),
}

/// The body jobs of one worker, in the order their turns come.
#[derive(Debug)]
pub struct Queue<J> {
    jobs: VecDeque<J>,
}

impl<J> Default for Queue<J> {
    fn default() -> Self {
        Queue {
            jobs: VecDeque::new(),
        }
    }
}

impl<J> Queue<J> {
    /// A new job takes its turn after every job already queued.
    pub fn push(&mut self, job: J) {
        self.jobs.push_back(job);
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Gives one slice to the job whose turn it is: `slice` hands a job with work left back
    /// (`Err`), and it goes to the back of the queue; a finished job leaves it, its result
    /// (which may carry the job's parts) returned.
    pub fn turn<T>(&mut self, slice: impl FnOnce(J) -> Result<T, J>) -> Option<T> {
        let job = self.jobs.pop_front()?;
        match slice(job) {
            Err(job) => {
                self.jobs.push_back(job);
                None
            }
            Ok(result) => Some(result),
        }
    }

    /// Takes every job `leaves` says must go (their request, configuration or budget is
    /// gone), in queue order; the others keep their turns.
    pub fn remove_where(&mut self, mut leaves: impl FnMut(&J) -> bool) -> Vec<J> {
        let mut removed = Vec::new();
        let mut kept = VecDeque::with_capacity(self.jobs.len());
        for job in self.jobs.drain(..) {
            if leaves(&job) {
                removed.push(job);
            } else {
                kept.push_back(job);
            }
        }
        self.jobs = kept;
        removed
    }

    /// Every job, in turn order (the root gives them up when it is torn down).
    pub fn take_all(&mut self) -> Vec<J> {
        self.jobs.drain(..).collect()
    }
}

/// The part of `total` bytes a slice may work through from `at`: `at..end`, at most
/// `budget` bytes long, at least one byte when any is left (so that every slice progresses).
pub fn window(at: usize, total: usize, budget: usize) -> std::ops::Range<usize> {
    let end = at.saturating_add(budget.max(1)).min(total);
    at.min(end)..end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that needs `left` slices, recording the order turns came in.
    fn run_all(sizes: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let mut queue = Queue::default();
        for (name, size) in sizes.iter().enumerate() {
            queue.push((name, *size));
        }
        let (mut turns, mut finished) = (Vec::new(), Vec::new());
        let mut ticks = 0;
        while !queue.is_empty() {
            ticks += 1;
            assert!(ticks < 1000, "every job ends");
            let done = queue.turn(|(name, left): (usize, usize)| {
                turns.push(name);
                if left == 1 {
                    Ok(name)
                } else {
                    Err((name, left - 1))
                }
            });
            if let Some(name) = done {
                finished.push(name);
            }
        }
        (turns, finished)
    }

    #[test]
    fn jobs_take_turns_one_slice_per_tick() {
        let (turns, finished) = run_all(&[3, 1, 2]);
        assert_eq!(turns, [0, 1, 2, 0, 2, 0], "round robin");
        assert_eq!(
            finished,
            [1, 2, 0],
            "the short jobs do not wait for the long one"
        );
    }

    #[test]
    fn a_new_job_waits_at_most_one_turn_of_each_queued_job() {
        let mut queue = Queue::default();
        queue.push(("large", 100));
        queue.push(("large too", 100));
        for _ in 0..5 {
            queue.turn(Err::<(), _>);
        }
        queue.push(("small", 1));
        let mut waited = 0;
        loop {
            let done = queue.turn(|(name, left): (&str, i32)| {
                if name == "small" {
                    Ok(())
                } else {
                    Err((name, left))
                }
            });
            if done.is_some() {
                break;
            }
            waited += 1;
        }
        assert_eq!(waited, 2);
    }

    #[test]
    fn removed_jobs_leave_and_the_others_keep_their_order() {
        let mut queue = Queue::default();
        for job in 0..6 {
            queue.push(job);
        }
        let removed = queue.remove_where(|job| job % 2 == 1);
        assert_eq!(removed, [1, 3, 5]);
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.take_all(), [0, 2, 4]);
        assert!(queue.is_empty());
        assert_eq!(queue.turn(|_: i32| Ok::<_, i32>(())), None);
    }

    #[test]
    fn windows_are_bounded_and_always_progress() {
        assert_eq!(window(0, 10, 4), 0..4);
        assert_eq!(window(8, 10, 4), 8..10);
        assert_eq!(window(10, 10, 4), 10..10);
        assert_eq!(
            window(3, 10, 0),
            3..4,
            "a zero budget still moves by one byte"
        );
        assert_eq!(window(5, 10, usize::MAX), 5..10);
        assert_eq!(window(12, 10, 4), 10..10);
    }
}
