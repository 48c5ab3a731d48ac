//! The comparison counters of a candidate target, and which ones an ended comparison moves.
//!
//! Two kinds. Exclusive (every comparison started ends in exactly one): `matched`,
//! `mismatched`, `compare_skipped_<reason>`; so started = matched + mismatched + every
//! `compare_skipped_*`, and compared = matched + mismatched. Beside them, not part of that
//! sum: the aspects that differed (a comparison may differ in several), the body left out
//! and why, `compared_without_reference`, and `noise_fields` (paths cancelled as noise,
//! counted by the path).

use super::pairing::{Outcome, Skipped};
use super::response::NotCompared;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareCounter {
    // How each comparison ended: exactly one per comparison started.
    Matched,
    Mismatched,
    SkippedIncomplete,
    SkippedExpired,
    SkippedNoAnswer,
    SkippedFull,
    // Beside it.
    MismatchedStatus,
    MismatchedHeaders,
    MismatchedBody,
    BodyNotComparedTooLarge,
    BodyNotComparedEncoding,
    ComparedWithoutReference,
    NoiseFields,
}

impl CompareCounter {
    pub const ALL: [CompareCounter; 13] = [
        CompareCounter::Matched,
        CompareCounter::Mismatched,
        CompareCounter::SkippedIncomplete,
        CompareCounter::SkippedExpired,
        CompareCounter::SkippedNoAnswer,
        CompareCounter::SkippedFull,
        CompareCounter::MismatchedStatus,
        CompareCounter::MismatchedHeaders,
        CompareCounter::MismatchedBody,
        CompareCounter::BodyNotComparedTooLarge,
        CompareCounter::BodyNotComparedEncoding,
        CompareCounter::ComparedWithoutReference,
        CompareCounter::NoiseFields,
    ];

    /// The metric's name after `traffic_mirror.<target>.`.
    pub fn suffix(self) -> &'static str {
        match self {
            CompareCounter::Matched => "matched",
            CompareCounter::Mismatched => "mismatched",
            CompareCounter::SkippedIncomplete => "compare_skipped_incomplete",
            CompareCounter::SkippedExpired => "compare_skipped_expired",
            CompareCounter::SkippedNoAnswer => "compare_skipped_no_answer",
            CompareCounter::SkippedFull => "compare_skipped_full",
            CompareCounter::MismatchedStatus => "mismatched_status",
            CompareCounter::MismatchedHeaders => "mismatched_headers",
            CompareCounter::MismatchedBody => "mismatched_body",
            CompareCounter::BodyNotComparedTooLarge => "body_not_compared_too_large",
            CompareCounter::BodyNotComparedEncoding => "body_not_compared_encoding",
            CompareCounter::ComparedWithoutReference => "compared_without_reference",
            CompareCounter::NoiseFields => "noise_fields",
        }
    }

    /// Whether it is one of the exclusive family (one per comparison started).
    pub fn is_exclusive(self) -> bool {
        (self as usize) <= CompareCounter::SkippedFull as usize
    }
}

/// The counters an ended comparison moves, with by how much (all by one but `noise_fields`).
pub fn counts(outcome: &Outcome) -> Vec<(CompareCounter, u64)> {
    let verdict_and_flag = match outcome {
        Outcome::Skipped(why) => {
            let counter = match why {
                Skipped::Incomplete => CompareCounter::SkippedIncomplete,
                Skipped::Expired => CompareCounter::SkippedExpired,
                Skipped::NoAnswer => CompareCounter::SkippedNoAnswer,
                Skipped::Full => CompareCounter::SkippedFull,
            };
            return vec![(counter, 1)];
        }
        Outcome::Compared {
            verdict,
            without_reference,
        } => (verdict, *without_reference),
    };
    let (verdict, without_reference) = verdict_and_flag;
    let aspects = verdict.mismatched;
    let flags = [
        (verdict.matched(), CompareCounter::Matched),
        (!verdict.matched(), CompareCounter::Mismatched),
        (aspects.status, CompareCounter::MismatchedStatus),
        (aspects.headers, CompareCounter::MismatchedHeaders),
        (aspects.body, CompareCounter::MismatchedBody),
        (
            verdict.body_not_compared == Some(NotCompared::TooLarge),
            CompareCounter::BodyNotComparedTooLarge,
        ),
        (
            verdict.body_not_compared == Some(NotCompared::Encoding),
            CompareCounter::BodyNotComparedEncoding,
        ),
        (without_reference, CompareCounter::ComparedWithoutReference),
    ];
    let mut counts: Vec<(CompareCounter, u64)> = flags
        .into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, counter)| (counter, 1))
        .collect();
    if verdict.noise_fields() > 0 {
        counts.push((
            CompareCounter::NoiseFields,
            u64::from(verdict.noise_fields()),
        ));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::json::Differences;
    use crate::compare::verdict::{Aspects, Verdict};

    fn compared(
        aspects: Aspects,
        not_compared: Option<NotCompared>,
        noise: u32,
        without: bool,
    ) -> Outcome {
        Outcome::Compared {
            verdict: Verdict {
                mismatched: aspects,
                body_not_compared: not_compared,
                body: Differences {
                    noise,
                    ..Differences::default()
                },
                baseline_paths: Vec::new(),
                candidate_status: Some(200),
                reference_status: Some(200),
            },
            without_reference: without,
        }
    }

    #[test]
    fn suffixes_are_unique_and_listed_in_declaration_order() {
        let mut names: Vec<&str> = CompareCounter::ALL.iter().map(|c| c.suffix()).collect();
        assert!(CompareCounter::ALL
            .iter()
            .enumerate()
            .all(|(slot, c)| *c as usize == slot));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CompareCounter::ALL.len());
        let exclusive: Vec<&str> = CompareCounter::ALL
            .iter()
            .filter(|c| c.is_exclusive())
            .map(|c| c.suffix())
            .collect();
        assert_eq!(
            exclusive,
            [
                "matched",
                "mismatched",
                "compare_skipped_incomplete",
                "compare_skipped_expired",
                "compare_skipped_no_answer",
                "compare_skipped_full"
            ]
        );
    }

    #[test]
    fn each_outcome_moves_exactly_one_exclusive_counter() {
        let outcomes = [
            compared(Aspects::default(), None, 0, false),
            compared(
                Aspects {
                    status: true,
                    body: true,
                    ..Aspects::default()
                },
                Some(NotCompared::Encoding),
                3,
                true,
            ),
            compared(
                Aspects {
                    headers: true,
                    ..Aspects::default()
                },
                Some(NotCompared::TooLarge),
                0,
                false,
            ),
            Outcome::Skipped(Skipped::Incomplete),
            Outcome::Skipped(Skipped::Expired),
            Outcome::Skipped(Skipped::NoAnswer),
            Outcome::Skipped(Skipped::Full),
        ];
        for outcome in &outcomes {
            let exclusive = counts(outcome)
                .iter()
                .filter(|(c, _)| c.is_exclusive())
                .count();
            assert_eq!(exclusive, 1, "{outcome:?}");
        }
        assert_eq!(counts(&outcomes[0]), [(CompareCounter::Matched, 1)]);
        assert_eq!(
            counts(&outcomes[1]),
            [
                (CompareCounter::Mismatched, 1),
                (CompareCounter::MismatchedStatus, 1),
                (CompareCounter::MismatchedBody, 1),
                (CompareCounter::BodyNotComparedEncoding, 1),
                (CompareCounter::ComparedWithoutReference, 1),
                (CompareCounter::NoiseFields, 3),
            ]
        );
        assert_eq!(
            counts(&outcomes[2]),
            [
                (CompareCounter::Mismatched, 1),
                (CompareCounter::MismatchedHeaders, 1),
                (CompareCounter::BodyNotComparedTooLarge, 1)
            ]
        );
    }
}
