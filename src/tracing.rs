//! Whether a copy's spans are recorded by the target's tracer: the sampling decision a copy's
//! trace headers carry (docs/tracing.md).
//!
//! By default (`"inherit"`) a copy carries the original's trace headers as they came, so the
//! canary's spans join the original's trace with the original's sampling decision. With
//! `"never"`, the copy says "not sampled" in every propagation format Envoy and the common
//! tracers read, and asks for no debug or forced sampling. A trace header that is malformed
//! (wrong lengths, uppercase hex, version `ff`, all-zero ids, a second `traceparent`) is never
//! an error: with `"never"` it is left out of the copy, because a lenient tracer might still
//! read a "sampled" flag from it; with `"inherit"` it is carried as it came.

/// A target's `tracing.sampled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sampled {
    /// The copy carries the original's sampling decision.
    #[default]
    Inherit,
    /// The copy tells the target's tracer not to record it.
    Never,
}

impl Sampled {
    pub fn parse(value: &str) -> Option<Sampled> {
        match value {
            "inherit" => Some(Sampled::Inherit),
            "never" => Some(Sampled::Never),
            _ => None,
        }
    }
}

/// Headers that force a trace to be recorded whatever the sampler says: Envoy's
/// `x-envoy-force-trace` and `x-client-trace-id`, B3's debug flag.
const FORCING: [&str; 3] = ["x-envoy-force-trace", "x-client-trace-id", "x-b3-flags"];

/// What becomes of one header of the original in a copy that is not to be sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Drop,
    Replace(String),
}

/// The changes that make a request's copies unsampled, planned once per request (when some
/// target says `"never"`) and applied to each such target's copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsampled {
    /// By header index, ascending: what happens to that header.
    changes: Vec<(usize, Change)>,
    /// The original spoke B3 in separate headers: the copy says `x-b3-sampled: 0` once.
    b3_sampled_zero: bool,
}

impl Unsampled {
    /// Plans the changes for `headers` (lower-case names, as Envoy hands them over). Linear.
    pub fn plan<'a>(headers: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Unsampled {
        // W3C Trace Context: a request with more than one `traceparent` has none that counts.
        let traceparents = headers
            .clone()
            .filter(|(name, _)| *name == "traceparent")
            .take(2)
            .count();
        let mut plan = Unsampled::default();
        let mut traceparent_kept = false;
        let mut tracestates = Vec::new();
        for (index, (name, value)) in headers.enumerate() {
            let change = match name {
                "traceparent" => match unsampled_traceparent(value).filter(|_| traceparents == 1) {
                    Some(value) => {
                        traceparent_kept = true;
                        Change::Replace(value)
                    }
                    None => Change::Drop,
                },
                // Only meaningful beside a valid `traceparent`: decided once it is known.
                "tracestate" => {
                    tracestates.push(index);
                    continue;
                }
                "b3" => unsampled_b3(value).map_or(Change::Drop, Change::Replace),
                "x-b3-sampled" => {
                    plan.b3_sampled_zero = true;
                    Change::Drop
                }
                "x-b3-traceid" | "x-b3-spanid" => {
                    plan.b3_sampled_zero = true;
                    continue;
                }
                name if FORCING.contains(&name) => {
                    plan.b3_sampled_zero |= name == "x-b3-flags";
                    Change::Drop
                }
                _ => continue,
            };
            plan.changes.push((index, change));
        }
        if !traceparent_kept {
            plan.changes
                .extend(tracestates.into_iter().map(|index| (index, Change::Drop)));
            plan.changes.sort_unstable_by_key(|(index, _)| *index);
        }
        plan
    }

    /// Whether the plan changes nothing (the request carried no trace header).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && !self.b3_sampled_zero
    }

    /// `headers` (those the plan was made from, in the same order) as an unsampled copy
    /// carries them.
    pub fn apply<'a>(
        &'a self,
        headers: impl Iterator<Item = (&'a str, &'a str)> + 'a,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut changes = self.changes.iter().peekable();
        let rewritten = headers
            .enumerate()
            .filter_map(move |(index, (name, value))| {
                match changes.next_if(|(at, _)| *at == index) {
                    None => Some((name, value)),
                    Some((_, Change::Drop)) => None,
                    Some((_, Change::Replace(new))) => Some((name, new.as_str())),
                }
            });
        let b3 = self.b3_sampled_zero.then_some(("x-b3-sampled", "0"));
        rewritten.chain(b3)
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_id(text: &str, lengths: &[usize]) -> bool {
    lengths.contains(&text.len()) && is_lower_hex(text) && text.bytes().any(|b| b != b'0')
}

/// A well-formed `traceparent` (W3C Trace Context: `version-traceid-parentid-flags`, lower-case
/// hex, version not `ff`, ids not all zero; a later version may append `-...`) with its flags
/// set to `00`; `None` when it is not well-formed.
fn unsampled_traceparent(value: &str) -> Option<String> {
    let (head, rest) = (value.get(..55)?, value.get(55..)?);
    let version = head.get(..2)?;
    let well_formed = is_lower_hex(version)
        && version != "ff"
        && (rest.is_empty() || (version != "00" && rest.starts_with('-')))
        && head.get(2..3) == Some("-")
        && is_id(head.get(3..35)?, &[32])
        && head.get(35..36) == Some("-")
        && is_id(head.get(36..52)?, &[16])
        && head.get(52..53) == Some("-")
        && is_lower_hex(head.get(53..55)?);
    well_formed.then(|| format!("{}00{rest}", head.get(..53).unwrap_or_default()))
}

/// A well-formed single `b3` header (`traceid-spanid[-state[-parentid]]`, or the state alone)
/// with sampling state `0`; `None` when it is not well-formed.
fn unsampled_b3(value: &str) -> Option<String> {
    if matches!(value, "0" | "1" | "d") {
        return Some("0".into());
    }
    let mut fields = value.split('-');
    let trace = fields.next().filter(|id| is_id(id, &[16, 32]))?;
    let span = fields.next().filter(|id| is_id(id, &[16]))?;
    let state = fields.next();
    let parent = fields.next();
    let well_formed = fields.next().is_none()
        && state.map_or(true, |s| matches!(s, "0" | "1" | "d"))
        && parent.map_or(true, |id| is_id(id, &[16]));
    well_formed.then(|| match parent {
        Some(parent) => format!("{trace}-{span}-0-{parent}"),
        None => format!("{trace}-{span}-0"),
    })
}

/// The trace id a request carries (W3C `traceparent`, single `b3`, or `x-b3-traceid`), when
/// well-formed: for the copy log, never a value that is not an id.
pub fn trace_id<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<&'a str> {
    let w3c = header("traceparent")
        .filter(|value| unsampled_traceparent(value).is_some())
        .and_then(|value| value.get(3..35));
    let single = || {
        header("b3")
            .filter(|value| unsampled_b3(value).is_some())
            .and_then(|value| value.split('-').next())
            .filter(|id| id.len() > 1)
    };
    let multi = || header("x-b3-traceid").filter(|id| is_id(id, &[16, 32]));
    w3c.or_else(single).or_else(multi)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn unsampled(headers: &[(&str, &str)]) -> Vec<(String, String)> {
        let plan = Unsampled::plan(headers.iter().copied());
        plan.apply(headers.iter().copied())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_valid_traceparent_keeps_its_ids_and_tracestate_and_loses_its_sampled_flag() {
        let copy = unsampled(&[
            (":path", "/"),
            ("traceparent", TRACEPARENT),
            ("tracestate", "vendor=x"),
            ("x-custom", "kept"),
        ]);
        assert_eq!(
            copy,
            pairs(&[
                (":path", "/"),
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                ),
                ("tracestate", "vendor=x"),
                ("x-custom", "kept"),
            ])
        );
    }

    #[test]
    fn a_later_traceparent_version_is_read_as_version_00_with_its_tail_kept() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-ever";
        assert_eq!(
            unsampled_traceparent(later).as_deref(),
            Some("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-ever")
        );
    }

    #[test]
    fn a_malformed_traceparent_and_its_tracestate_are_left_out() {
        let malformed = [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            "",
            "é",
        ];
        for value in malformed {
            let copy = unsampled(&[("traceparent", value), ("tracestate", "a=b"), ("x", "y")]);
            assert_eq!(copy, pairs(&[("x", "y")]), "{value:?}");
        }
    }

    #[test]
    fn two_traceparents_count_as_none() {
        let copy = unsampled(&[
            ("traceparent", TRACEPARENT),
            ("tracestate", "a=b"),
            ("traceparent", TRACEPARENT),
        ]);
        assert!(copy.is_empty(), "{copy:?}");
    }

    #[test]
    fn b3_headers_say_not_sampled_and_forcing_headers_are_removed() {
        let copy = unsampled(&[
            ("x-b3-traceid", "463ac35c9f6413ad"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-sampled", "1"),
            ("x-b3-sampled", "true"),
            ("x-b3-flags", "1"),
            ("x-envoy-force-trace", "true"),
            ("x-client-trace-id", "abc"),
            ("x-request-id", "r-1"),
        ]);
        assert_eq!(
            copy,
            pairs(&[
                ("x-b3-traceid", "463ac35c9f6413ad"),
                ("x-b3-spanid", "a2fb4a1d1a96d312"),
                ("x-request-id", "r-1"),
                ("x-b3-sampled", "0"),
            ])
        );
        // Ids without a decision would let the target's sampler decide: the copy decides.
        let deferred = unsampled(&[("x-b3-traceid", "463ac35c9f6413ad")]);
        assert!(deferred.contains(&("x-b3-sampled".into(), "0".into())));
        assert!(unsampled(&[("x-other", "1")]) == pairs(&[("x-other", "1")]));
    }

    #[test]
    fn the_single_b3_header_gets_sampling_state_0_or_is_left_out() {
        let cases = [
            ("1", Some("0")),
            ("d", Some("0")),
            ("0", Some("0")),
            (
                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1",
                Some("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"),
            ),
            (
                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d",
                Some("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"),
            ),
            (
                "463ac35c9f6413ad-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
                Some("463ac35c9f6413ad-e457b5a2e4d86bd1-0-05e3ac9a4f6e3b90"),
            ),
            ("463AC35C9F6413AD-e457b5a2e4d86bd1-1", None),
            ("463ac35c9f6413ad-e457b5a2e4d86bd1-2", None),
            (
                "463ac35c9f6413ad-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-x",
                None,
            ),
            ("463ac35c9f6413ad", None),
            ("", None),
            ("true", None),
        ];
        for (value, expected) in cases {
            assert_eq!(unsampled_b3(value).as_deref(), expected, "{value:?}");
            let copy = unsampled(&[("b3", value)]);
            let want: Vec<(String, String)> = expected
                .map(|v| ("b3".to_string(), v.to_string()))
                .into_iter()
                .collect();
            assert_eq!(copy, want, "{value:?}");
        }
    }

    #[test]
    fn hostile_trace_headers_are_planned_in_linear_time_without_panicking() {
        let long = "0".repeat(100_000);
        let odd = ["-".repeat(60), "é".repeat(30), long.clone()];
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for value in &odd {
            for name in [
                "traceparent",
                "tracestate",
                "b3",
                "x-b3-sampled",
                "x-b3-flags",
            ] {
                headers.push((name, value.as_str()));
            }
        }
        let many: Vec<(&str, &str)> = (0..10_000).map(|_| ("traceparent", TRACEPARENT)).collect();
        headers.extend(many);
        let copy = unsampled(&headers);
        assert_eq!(copy, pairs(&[("x-b3-sampled", "0")]));
    }

    #[test]
    fn the_trace_id_is_read_from_a_well_formed_header_only() {
        let of = |headers: &[(&'static str, &'static str)]| {
            let headers = headers.to_vec();
            trace_id(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
        };
        assert_eq!(
            of(&[("traceparent", TRACEPARENT)]),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            of(&[("b3", "463ac35c9f6413ad-e457b5a2e4d86bd1-1")]),
            Some("463ac35c9f6413ad")
        );
        assert_eq!(
            of(&[("x-b3-traceid", "463ac35c9f6413ad")]),
            Some("463ac35c9f6413ad")
        );
        assert_eq!(of(&[("traceparent", "00-\"}injected")]), None);
        assert_eq!(of(&[("b3", "1")]), None);
        assert_eq!(of(&[("x-b3-traceid", "not-an-id")]), None);
    }
}
