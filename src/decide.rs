//! Which targets want a copy of a request, and why the others do not.
//!
//! The decision is made in steps, cheapest first. A target that decides by a random draw
//! alone (no match rules, no sampling key) draws before anything of the request is read, so a
//! request no target wants costs a few random numbers. Only when some target still wants it,
//! or needs the headers to decide, are the headers read (once) for the loop guard, the match
//! rules and consistent sampling. Then the same-cluster guard: no target gets a copy where the
//! original itself is going. Limits come last: tokens are spent only on copies that will go out.

use crate::baggage;
use crate::config::Target;
use crate::http::{asks_for_upgrade, HeaderMap};
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
    /// The request carries the marker header or baggage member: it is itself a copy, or a
    /// call a copy made (the loop guard).
    MarkedAsCopy,
    /// The target is where the original is going: a copy would be a second request to it.
    SameCluster,
    RateLimited,
    InFlightLimited,
}

/// What the first steps read from a request's headers, in one walk over them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inspected {
    /// The request carries the marker: the marker header, or a `baggage` member with exactly
    /// the configured key (any value).
    pub marked: bool,
    /// It asks for an upgrade or a tunnel (`http::asks_for_upgrade`).
    pub upgrade: bool,
}

/// Reads what the loop guard (`header`, `baggage_key`: the markers, when on) and the upgrade
/// check need, in one walk over the headers.
pub fn inspect(head: &HeaderMap, header: Option<&str>, baggage_key: Option<&str>) -> Inspected {
    let mut seen = Inspected::default();
    for (name, value) in head.iter() {
        seen.upgrade |= asks_for_upgrade(name, value);
        seen.marked = seen.marked
            || header == Some(name)
            || (name == "baggage"
                && baggage_key.is_some_and(|key| baggage::has_member(value, key)));
    }
    seen
}

/// Where the original request is going.
#[derive(Debug, Clone, Copy, Default)]
pub struct Destination<'a> {
    /// Envoy's `xds.cluster_name`: the routed cluster; `None` when no route matched.
    pub cluster: Option<&'a [u8]>,
    /// The request's `:authority`.
    pub authority: Option<&'a [u8]>,
}

impl Destination<'_> {
    /// The targets a copy would reach the original's destination through: the original's
    /// cluster, or (in Istio, where the plugin sees the inbound cluster) a target naming by
    /// `service` alone the service the request is addressed to. `allow_same_cluster` exempts.
    pub fn same_as(&self, targets: &[Target]) -> TargetSet {
        let host = self.authority.map(authority_host);
        let mut same = TargetSet::default();
        for (index, target) in targets.iter().enumerate() {
            let containment = &target.containment;
            if containment.allow_same_cluster {
                continue;
            }
            let same_cluster = self.cluster == Some(target.cluster.as_bytes());
            let same_service = containment
                .same_service
                .as_deref()
                .zip(host)
                .is_some_and(|(service, host)| names_service(host, service));
            if same_cluster || same_service {
                same.insert(index);
            }
        }
        same
    }
}

/// The host of an `:authority`, without its port (an IPv6 literal keeps its brackets).
fn authority_host(authority: &[u8]) -> &[u8] {
    let port_at = authority.iter().rposition(|b| *b == b':');
    let bracketed = authority.iter().rposition(|b| *b == b']');
    match port_at {
        Some(at) if bracketed.map_or(true, |close| close < at) => {
            authority.get(..at).unwrap_or(authority)
        }
        _ => authority,
    }
}

/// Whether `host` names `service` (a full name such as `users.prod.svc.cluster.local`): the
/// full name, or its leading labels as Kubernetes DNS completes them (`users`, `users.prod`,
/// `users.prod.svc`), case ignored, a trailing dot allowed.
fn names_service(host: &[u8], service: &str) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    let service = service.as_bytes();
    if host.is_empty() || host.len() > service.len() {
        return false;
    }
    let (prefix, rest) = service.split_at(host.len());
    prefix.eq_ignore_ascii_case(host) && (rest.is_empty() || rest.first() == Some(&b'.'))
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
    same_cluster: TargetSet,
    /// Every target whose copies would go where the original goes (see `Destination`), once
    /// the destination is known: references are carried only if not among them.
    same_destination: TargetSet,
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

    /// The second step, with the request's headers: upgrades and tunnels, loop guard (`seen`:
    /// see `inspect`), match rules, consistent sampling.
    pub fn with_headers(
        &mut self,
        targets: &[Target],
        global_match: Option<&Match>,
        seen: Inspected,
        head: &HeaderMap,
        mut draw: impl FnMut() -> u32,
    ) {
        let open = self.open();
        if seen.upgrade {
            self.upgrade = self.upgrade.union(open);
            self.wanted = TargetSet::default();
            self.undecided = TargetSet::default();
            return;
        }
        if seen.marked {
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

    /// Whether the same-cluster step needs the original's destination: some target may be
    /// wanted or carried, and not every target allows its cluster to be the original's.
    pub fn guards_destination(&self, targets: &[Target]) -> bool {
        !self.wanted.is_empty() && targets.iter().any(|t| !t.containment.allow_same_cluster)
    }

    /// The third step, after the loop guard: no copy to where the original is going.
    pub fn refuse_same_destination(&mut self, targets: &[Target], destination: &Destination<'_>) {
        self.same_destination = destination.same_as(targets);
        for index in self.wanted.iter() {
            if self.same_destination.contains(index) {
                self.wanted.remove(index);
                self.same_cluster.insert(index);
            }
        }
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
            if self.same_destination.contains(index) {
                self.same_cluster.insert(index);
                continue;
            }
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
    pub fn refusals(&self) -> [(Refusal, TargetSet); 7] {
        [
            (Refusal::SampledOut, self.sampled_out),
            (Refusal::Unmatched, self.unmatched),
            (Refusal::Upgrade, self.upgrade),
            (Refusal::MarkedAsCopy, self.marked_as_copy),
            (Refusal::SameCluster, self.same_cluster),
            (Refusal::RateLimited, self.rate_limited),
            (Refusal::InFlightLimited, self.in_flight_limited),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::http::HeaderMap;
    use crate::metrics::Counter;

    fn parse_targets(json: &str) -> (Vec<Target>, Option<Match>) {
        let config = Config::parse(json.as_bytes()).unwrap();
        (config.targets, config.request_match)
    }

    fn raw(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_bytes())))
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
        let head = headers;
        let seen = inspect(&head, Some("x-traffic-mirror"), None);
        assert!(seen.marked && seen.upgrade);
        decisions.with_headers(&targets, global.as_ref(), seen, &head, no_draws);
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
        let head = headers;
        let seen = inspect(&head, Some("x-traffic-mirror"), Some("traffic-mirror"));
        assert_eq!(
            seen,
            Inspected {
                marked: true,
                upgrade: false
            }
        );
        decisions.with_headers(&targets, global.as_ref(), seen, &head, no_draws);
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
                Inspected::default(),
                &headers,
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
                Inspected::default(),
                &headers,
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
                    Inspected::default(),
                    &headers,
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

    #[test]
    fn the_baggage_member_marks_a_request_with_exactly_its_key() {
        let marked = |pairs: &[(&str, &str)]| {
            let headers = raw(pairs);
            inspect(&headers, Some("x-traffic-mirror"), Some("traffic-mirror")).marked
        };
        assert!(marked(&[
            ("baggage", "a=1"),
            ("baggage", "traffic-mirror=canary;p=1")
        ]));
        assert!(marked(&[("x-traffic-mirror", "")]));
        assert!(!marked(&[(
            "baggage",
            "traffic%2Dmirror=canary,Traffic-Mirror=x"
        )]));
        assert!(!marked(&[("baggage", "other=traffic-mirror")]));
        let headers = raw(&[("baggage", "traffic-mirror=canary")]);
        let head = headers;
        assert!(
            !inspect(&head, Some("x-traffic-mirror"), None).marked,
            "baggage marker off"
        );
        assert!(
            inspect(&head, None, Some("traffic-mirror")).marked,
            "header marker off"
        );
    }

    fn destined(config: &str, cluster: Option<&str>, authority: &str) -> Decisions {
        let (targets, _) = parse_targets(config);
        let mut decisions = Decisions::before_headers(&targets, None, no_draws);
        assert!(decisions.guards_destination(&targets));
        let destination = Destination {
            cluster: cluster.map(str::as_bytes),
            authority: Some(authority.as_bytes()),
        };
        decisions.refuse_same_destination(&targets, &destination);
        decisions
    }

    #[test]
    fn no_copy_goes_where_the_original_goes_unless_allowed() {
        let config = r#"{"targets": [{"cluster": "prod"}, {"cluster": "canary"},
                                     {"cluster": "prod", "name": "load", "allow_same_cluster": true}]}"#;
        let decisions = destined(config, Some("prod"), "shop");
        assert_eq!(decisions.wanted, set(&[1, 2]));
        assert_eq!(refused(&decisions, Refusal::SameCluster), set(&[0]));
        let unrouted = destined(config, None, "shop");
        assert_eq!(
            unrouted.wanted,
            set(&[0, 1, 2]),
            "no route matched: allowed"
        );
        assert_eq!(
            Counter::from(Refusal::SameCluster),
            Counter::SkippedSameCluster
        );
    }

    #[test]
    fn in_istio_a_service_without_subset_addressed_by_the_request_is_refused() {
        let config = r#"{"targets": [
            {"service": "users.prod.svc.cluster.local", "port": 8080, "name": "same"},
            {"service": "users.prod.svc.cluster.local", "port": 8080, "subset": "v2", "name": "v2"},
            {"service": "users-canary.prod.svc.cluster.local", "port": 8080, "name": "canary"}]}"#;
        let inbound = Some("inbound|8080||");
        for authority in [
            "users",
            "users:8080",
            "users.prod",
            "USERS.prod.svc",
            "users.prod.svc.cluster.local:8080",
            "users.prod.svc.cluster.local.",
        ] {
            let decisions = destined(config, inbound, authority);
            assert_eq!(
                refused(&decisions, Refusal::SameCluster),
                set(&[0]),
                "{authority}"
            );
            assert_eq!(decisions.wanted, set(&[1, 2]), "{authority}");
        }
        for authority in [
            "user",
            "users-cana",
            "prod",
            "users.prod.svc.cluster.local.x",
            "[::1]:8080",
            "",
        ] {
            let decisions = destined(config, inbound, authority);
            assert_eq!(decisions.wanted, set(&[0, 1, 2]), "{authority}");
        }
        assert_eq!(authority_host(b"[::1]:80"), b"[::1]");
        assert_eq!(authority_host(b"[::1]"), b"[::1]");
    }

    #[test]
    fn a_reference_that_is_the_original_cluster_is_not_carried() {
        let (targets, _) = parse_targets(
            r#"{"targets": [{"cluster": "canary", "name": "c", "compare": {"against": "prod"}},
                            {"cluster": "prod", "name": "prod", "percentage": 0}]}"#,
        );
        let mut decisions = Decisions::before_headers(&targets, None, no_draws);
        let destination = Destination {
            cluster: Some(b"prod"),
            authority: None,
        };
        decisions.refuse_same_destination(&targets, &destination);
        decisions.apply_limits(|_| Ok(()));
        decisions.carry_references(&targets, |_| Ok(()));
        assert_eq!(decisions.wanted, set(&[0]));
        assert_eq!(refused(&decisions, Refusal::SameCluster), set(&[1]));
        assert!(
            refused(&decisions, Refusal::SampledOut).is_empty(),
            "one decision each"
        );
    }
}
