//! Which targets want a copy of a request, and why the others do not.
//!
//! The decision is made in steps, cheapest first. A target that decides by a random draw
//! alone (no match rules, no sampling key) draws before anything of the request is read, so a
//! request no target wants costs a few random numbers. Only when some target still wants it,
//! or needs the headers to decide, are the headers read (once) for the loop guard, the match
//! rules and consistent sampling. Limits come last: tokens are spent only on copies that will
//! go out.

use crate::config::Target;
use crate::http::RequestHead;
use crate::limits::Limited;
use crate::matching::Match;
use crate::sampling::keyed_draw;
use crate::targets::{Copies, TargetSet};

/// Why a target does not get a copy of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SampledOut,
    Unmatched,
    /// The request asks for an upgrade (WebSocket) or a tunnel (CONNECT): not an HTTP request
    /// a copy could repeat.
    Upgrade,
    /// The request carries the marker header: it is itself a copy (the loop guard).
    MarkedAsCopy,
    RateLimited,
    InFlightLimited,
}

/// Every target of a request is in exactly one place: wanted, undecided (waiting for the
/// headers), or refused for one reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decisions {
    pub wanted: TargetSet,
    /// Wanted only to serve a candidate's comparison (a reference target): one copy each,
    /// whatever the target's `amplify`.
    pub carried: TargetSet,
    undecided: TargetSet,
    sampled_out: TargetSet,
    unmatched: TargetSet,
    upgrade: TargetSet,
    marked_as_copy: TargetSet,
    rate_limited: TargetSet,
    in_flight_limited: TargetSet,
}

impl Decisions {
    /// The first step, before anything of the request is read: random draws for the targets
    /// that need nothing else (`draw` gives numbers uniform in `0..1_000_000`).
    pub fn before_headers(
        targets: &[Target],
        global_match: Option<&Match>,
        mut draw: impl FnMut() -> u32,
    ) -> Decisions {
        let mut decisions = Decisions::default();
        for (index, target) in targets.iter().enumerate() {
            if target.needs_headers(global_match.is_some()) {
                decisions.undecided.insert(index);
            } else if target.sample_rate.sample(&mut draw) {
                decisions.wanted.insert(index);
            } else {
                decisions.sampled_out.insert(index);
            }
        }
        decisions
    }

    /// Whether the headers must be read: some target still wants the request or has yet to
    /// decide.
    pub fn needs_headers(&self) -> bool {
        !self.open().is_empty()
    }

    /// The targets not refused so far.
    pub fn open(&self) -> TargetSet {
        self.wanted.union(self.undecided)
    }

    /// The second step, with the request's headers: upgrades and tunnels, loop guard, match
    /// rules, consistent sampling.
    pub fn with_headers(
        &mut self,
        targets: &[Target],
        global_match: Option<&Match>,
        marker_header: Option<&str>,
        head: &RequestHead<'_>,
        mut draw: impl FnMut() -> u32,
    ) {
        let open = self.open();
        if head.asks_for_upgrade() {
            self.upgrade = self.upgrade.union(open);
            self.wanted = TargetSet::default();
            self.undecided = TargetSet::default();
            return;
        }
        if marker_header.is_some_and(|marker| head.get(marker).is_some()) {
            self.marked_as_copy = self.marked_as_copy.union(open);
            self.wanted = TargetSet::default();
            self.undecided = TargetSet::default();
            return;
        }
        let globally_matched = global_match.map_or(true, |rule| rule.matches(head));
        for index in self.undecided.iter() {
            let Some(target) = targets.get(index) else {
                continue;
            };
            let matched = globally_matched
                && target
                    .request_match
                    .as_ref()
                    .map_or(true, |m| m.matches(head));
            if !matched {
                self.unmatched.insert(index);
                continue;
            }
            let key = target
                .sampling_key
                .as_ref()
                .and_then(|key| Some(keyed_draw(key.salt.as_bytes(), head.get(&key.header)?)));
            // A request without the key header falls back to a random draw.
            if target.sample_rate.sample(|| key.unwrap_or_else(&mut draw)) {
                self.wanted.insert(index);
            } else {
                self.sampled_out.insert(index);
            }
        }
        self.undecided = TargetSet::default();
    }

    /// The last step: each wanted target's limits admit its copies, or refuse them all.
    pub fn apply_limits(&mut self, mut admit: impl FnMut(usize) -> Result<(), Limited>) {
        for index in self.wanted.iter() {
            let refused = match admit(index) {
                Ok(()) => continue,
                Err(Limited::Rate) => &mut self.rate_limited,
                Err(Limited::InFlight) => &mut self.in_flight_limited,
            };
            refused.insert(index);
            self.wanted.remove(index);
        }
    }

    /// After the limits: the reference targets (`compare.against`, `compare.noise_baseline`) of
    /// every wanted candidate receive the same request ("carried"), whatever their own match
    /// rules and percentage decided; their limits still apply, to one copy each.
    pub fn carry_references(
        &mut self,
        targets: &[Target],
        mut admit_one: impl FnMut(usize) -> Result<(), Limited>,
    ) {
        let references = self
            .wanted
            .iter()
            .filter_map(|index| targets.get(index)?.compare.as_ref());
        let mut needed = TargetSet::default();
        references
            .flat_map(|spec| spec.reference_targets())
            .for_each(|index| needed.insert(index));
        for index in needed.iter() {
            let refused_by_own_rules =
                self.sampled_out.contains(index) || self.unmatched.contains(index);
            if !refused_by_own_rules {
                continue; // wanted already, or refused by its limits: decided
            }
            self.sampled_out.remove(index);
            self.unmatched.remove(index);
            match admit_one(index) {
                Ok(()) => {
                    self.wanted.insert(index);
                    self.carried.insert(index);
                }
                Err(Limited::Rate) => self.rate_limited.insert(index),
                Err(Limited::InFlight) => self.in_flight_limited.insert(index),
            }
        }
    }

    /// The targets that get copies, and how many.
    pub fn copies(&self) -> Copies {
        Copies {
            targets: self.wanted,
            carried: self.carried,
        }
    }

    /// The refused targets, by reason.
    pub fn refusals(&self) -> [(Refusal, TargetSet); 6] {
        [
            (Refusal::SampledOut, self.sampled_out),
            (Refusal::Unmatched, self.unmatched),
            (Refusal::Upgrade, self.upgrade),
            (Refusal::MarkedAsCopy, self.marked_as_copy),
            (Refusal::RateLimited, self.rate_limited),
            (Refusal::InFlightLimited, self.in_flight_limited),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse_targets(json: &str) -> (Vec<Target>, Option<Match>) {
        let config = Config::parse(json.as_bytes()).unwrap();
        (config.targets, config.request_match)
    }

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn set(indexes: &[usize]) -> TargetSet {
        let mut set = TargetSet::default();
        indexes.iter().for_each(|i| set.insert(*i));
        set
    }

    fn refused(decisions: &Decisions, refusal: Refusal) -> TargetSet {
        decisions
            .refusals()
            .iter()
            .find(|(r, _)| *r == refusal)
            .map_or_else(TargetSet::default, |(_, s)| *s)
    }

    fn no_draws() -> u32 {
        panic!("no random draw expected")
    }

    #[test]
    fn random_targets_draw_before_headers_and_a_request_nobody_wants_reads_nothing() {
        let (targets, global) = parse_targets(
            r#"{"targets": [{"cluster": "a", "percentage": 0}, {"cluster": "b", "percentage": 50}, {"cluster": "c"}]}"#,
        );
        // Only the 50% target draws: 0% and 100% need no random number.
        let mut draws = vec![10u32].into_iter();
        let decisions = Decisions::before_headers(&targets, global.as_ref(), || {
            draws.next().unwrap_or_else(no_draws)
        });
        assert_eq!(decisions.wanted, set(&[1, 2]));
        assert_eq!(refused(&decisions, Refusal::SampledOut), set(&[0]));
        assert!(decisions.needs_headers());

        let (nobody, _) = parse_targets(r#"{"targets": [{"cluster": "a", "percentage": 0}]}"#);
        let decisions = Decisions::before_headers(&nobody, None, no_draws);
        assert!(!decisions.needs_headers());
    }

    #[test]
    fn an_upgrade_refuses_every_open_target_before_the_loop_guard() {
        let (targets, global) = parse_targets(
            r#"{"targets": [{"cluster": "a"}, {"cluster": "b", "match": {"methods": ["GET"]}}, {"cluster": "c", "percentage": 0}]}"#,
        );
        let mut decisions = Decisions::before_headers(&targets, global.as_ref(), no_draws);
        let headers = raw(&[
            (":method", "GET"),
            ("upgrade", "websocket"),
            ("x-traffic-mirror", "a"),
        ]);
        let head = RequestHead::new(&headers);
        decisions.with_headers(
            &targets,
            global.as_ref(),
            Some("x-traffic-mirror"),
            &head,
            no_draws,
        );
        assert!(decisions.wanted.is_empty());
        assert_eq!(refused(&decisions, Refusal::Upgrade), set(&[0, 1]));
        assert_eq!(refused(&decisions, Refusal::SampledOut), set(&[2]));
        assert!(refused(&decisions, Refusal::MarkedAsCopy).is_empty());
    }

    #[test]
    fn marker_header_refuses_every_open_target() {
        let (targets, global) = parse_targets(
            r#"{"targets": [{"cluster": "a"}, {"cluster": "b", "match": {"methods": ["GET"]}}, {"cluster": "c", "percentage": 0}]}"#,
        );
        let mut decisions = Decisions::before_headers(&targets, global.as_ref(), no_draws);
        assert!(decisions.needs_headers());
        let headers = raw(&[(":method", "GET"), ("x-traffic-mirror", "upstream")]);
        decisions.with_headers(
            &targets,
            global.as_ref(),
            Some("x-traffic-mirror"),
            &RequestHead::new(&headers),
            no_draws,
        );
        assert!(decisions.wanted.is_empty());
        assert_eq!(refused(&decisions, Refusal::MarkedAsCopy), set(&[0, 1]));
        assert_eq!(
            refused(&decisions, Refusal::SampledOut),
            set(&[2]),
            "decided before the headers"
        );
    }

    #[test]
    fn target_and_global_match_rules_both_apply() {
        let (targets, global) = parse_targets(
            r#"{"match": {"path_prefixes": ["/api/"]},
                "targets": [{"cluster": "a"}, {"cluster": "b", "match": {"methods": ["POST"]}}]}"#,
        );
        let decide = |pairs: &[(&str, &str)]| {
            let headers = raw(pairs);
            let mut decisions = Decisions::before_headers(&targets, global.as_ref(), no_draws);
            decisions.with_headers(
                &targets,
                global.as_ref(),
                None,
                &RequestHead::new(&headers),
                no_draws,
            );
            decisions
        };
        let get_api = decide(&[(":method", "GET"), (":path", "/api/x")]);
        assert_eq!(
            (get_api.wanted, refused(&get_api, Refusal::Unmatched)),
            (set(&[0]), set(&[1]))
        );
        let post_api = decide(&[(":method", "POST"), (":path", "/api/x")]);
        assert_eq!(post_api.wanted, set(&[0, 1]));
        let post_other = decide(&[(":method", "POST"), (":path", "/health")]);
        assert_eq!(refused(&post_other, Refusal::Unmatched), set(&[0, 1]));
    }

    #[test]
    fn keyed_sampling_uses_the_header_and_falls_back_to_random() {
        let (targets, global) = parse_targets(
            r#"{"targets": [{"cluster": "a", "percentage": 50, "sampling": {"key_header": "x-user-id", "salt": "s"}}]}"#,
        );
        let decide = |user: Option<&str>, random: u32| {
            let mut pairs = vec![(":method", "GET")];
            pairs.extend(user.map(|u| ("x-user-id", u)));
            let headers = raw(&pairs);
            let mut decisions = Decisions::before_headers(&targets, global.as_ref(), no_draws);
            decisions.with_headers(
                &targets,
                global.as_ref(),
                None,
                &RequestHead::new(&headers),
                || random,
            );
            !decisions.wanted.is_empty()
        };
        let expected = keyed_draw(b"s", b"u-7") < 500_000;
        // The random draw is ignored when the key is there...
        assert_eq!(decide(Some("u-7"), 0), expected);
        assert_eq!(decide(Some("u-7"), 999_999), expected);
        // ...and used when it is not.
        assert!(decide(None, 0));
        assert!(!decide(None, 999_999));
    }

    #[test]
    fn limits_refuse_by_reason() {
        let (targets, _) =
            parse_targets(r#"{"targets": [{"cluster": "a"}, {"cluster": "b"}, {"cluster": "c"}]}"#);
        let mut decisions = Decisions::before_headers(&targets, None, no_draws);
        decisions.apply_limits(|index| match index {
            0 => Err(Limited::Rate),
            1 => Err(Limited::InFlight),
            _ => Ok(()),
        });
        assert_eq!(decisions.wanted, set(&[2]));
        assert_eq!(refused(&decisions, Refusal::RateLimited), set(&[0]));
        assert_eq!(refused(&decisions, Refusal::InFlightLimited), set(&[1]));
    }

    #[test]
    fn every_target_ends_in_exactly_one_place() {
        let (targets, global) = parse_targets(
            r#"{"targets": [{"cluster": "a", "percentage": 30}, {"cluster": "b", "match": {"methods": ["GET"]}, "percentage": 70},
                            {"cluster": "c", "sampling": {"key_header": "k"}, "percentage": 40}]}"#,
        );
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..2000 {
            let method = if i % 3 == 0 { "POST" } else { "GET" };
            let key = format!("{i}");
            let headers = raw(&[(":method", method), ("k", &key)]);
            let mut decisions =
                Decisions::before_headers(&targets, global.as_ref(), || rng.u32(0..1_000_000));
            if decisions.needs_headers() {
                decisions.with_headers(
                    &targets,
                    global.as_ref(),
                    None,
                    &RequestHead::new(&headers),
                    || rng.u32(0..1_000_000),
                );
            }
            decisions.apply_limits(|index| {
                if index == 2 && i % 5 == 0 {
                    Err(Limited::Rate)
                } else {
                    Ok(())
                }
            });
            let total = decisions.wanted.len()
                + decisions
                    .refusals()
                    .iter()
                    .map(|(_, set)| set.len())
                    .sum::<usize>();
            assert_eq!(total, 3, "request {i}: {decisions:?}");
            let all = decisions
                .refusals()
                .iter()
                .fold(decisions.wanted, |acc, (_, s)| acc.union(*s));
            assert_eq!(all, set(&[0, 1, 2]));
        }
    }
}
