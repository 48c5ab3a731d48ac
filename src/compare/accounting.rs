//! Per-endpoint and per-field counts of a candidate's comparisons, as Envoy metrics that
//! Prometheus sums over a mesh:
//!
//! - `traffic_mirror_endpoint_{compared,matched,mismatched}{mirror_target,endpoint}`;
//! - `traffic_mirror_endpoint_mismatched_aspect{mirror_target,endpoint,aspect}`;
//! - `traffic_mirror_field_{differed,noise}{mirror_target,endpoint,field}`.
//!
//! The labels ride in the stat name in the tag convention Istio's bootstrap extracts
//! (`name=.=value;.;`), so `stats_tags` regexes (plain Envoy) or `extraStatTags` (Istio) turn
//! them into Prometheus labels (see `series_name`).
//!
//! Series are bounded for the whole Envoy, not per worker: at most `max_endpoints` endpoints
//! per target and `max_fields_per_endpoint` fields per endpoint are admitted, the first ones
//! seen by any worker; further ones count as `other`. Admissions are recorded in proxy-wasm
//! shared data (`Admission`), under keys that carry a hash of the configuration and the
//! target: shared data outlives configurations and cannot be deleted, and a new configuration
//! starts its own lists. Each series is defined (at 0) when admitted; counts are tallied in
//! the VM and handed to Envoy in batches, as the per-target metrics are.

use super::json::{MAX_PATHS, ROOT_PATH};
use super::spec::CompareSpec;
#[cfg(test)]
use super::spec::DEFAULT_MAX_FIELDS_PER_ENDPOINT;
use super::verdict::Verdict;
use crate::endpoints::Endpoints;
use crate::host::{MetricHost, SharedDataHost};
use crate::metrics::Tallied;
use proxy_wasm::types::MetricType;
use std::collections::HashMap;
use std::rc::Rc;

pub const DEFAULT_MAX_ENDPOINTS: usize = 32;
pub const MAX_ENDPOINTS_LIMIT: usize = 256;
/// Per-endpoint series an Envoy may hold; a configuration allowing more is refused.
pub const MAX_SERIES: usize = 10_000;
/// The endpoint, or field, that counts what the bounds leave out.
pub const OTHER: &str = "other";
/// The field of the status (HTTP status, or gRPC status under HTTP 200).
pub const STATUS_FIELD: &str = "status";
/// The field of a body compared as bytes (or of JSON bodies of different types at the top).
pub const BODY_FIELD: &str = "body";
/// A JSON path's field starts with this (`$.items.*.price`), so that no JSON key can be
/// mistaken for `status`, `body`, a header or `other`.
pub const JSON_FIELD_PREFIX: &str = "$.";
/// Segments of a JSON path's field; deeper ones are one `{*}`, so a label stays short.
pub const MAX_FIELD_SEGMENTS: usize = 8;
/// Compare-and-swap attempts to admit a name before counting it as `other` this once.
const CAS_ATTEMPTS: u32 = 8;

/// Per endpoint: compared, matched, mismatched and three aspects, then the pairs of field
/// series of its fields and of its `other` field.
const ENDPOINT_SERIES: usize = 6;

/// The per-endpoint series a comparing target may define in an Envoy: its endpoints and
/// `other`, each with 6 series (3 counts, 3 aspects) and 2 per field (differed, noise) for its
/// fields and `other`.
pub fn series_per_target(max_endpoints: usize, max_fields_per_endpoint: usize) -> usize {
    (max_endpoints + 1) * (ENDPOINT_SERIES + 2 * (max_fields_per_endpoint + 1))
}

/// What differed in one comparison, per field: between candidate and reference
/// (`differed`), between reference and noise baseline (`noise`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange<N> {
    pub field: N,
    pub differed: bool,
    pub noise: bool,
}

/// The fields of a comparison: `status`, the names of `compare.headers` that differed, the
/// body's JSON paths as fields (`$.a.*.b`, data-like keys `{}`, see `json_field`) or `body`;
/// each once. Paths the
/// diff did not name (past its `MAX_PATHS`) count as `other`.
pub fn field_changes(verdict: &Verdict, spec: &CompareSpec) -> Vec<FieldChange<String>> {
    let mut changes: Vec<FieldChange<String>> = Vec::new();
    let mut note =
        |field: String, differed: bool| match changes.iter_mut().find(|c| c.field == field) {
            Some(change) if differed => change.differed = true,
            Some(change) => change.noise = true,
            None => changes.push(FieldChange {
                field,
                differed,
                noise: !differed,
            }),
        };
    if verdict.mismatched.status {
        note(STATUS_FIELD.to_string(), true);
    }
    if verdict.baseline_status {
        note(STATUS_FIELD.to_string(), false);
    }
    for (bit, name) in spec.headers.iter().enumerate().take(32) {
        if verdict.differing_headers & (1 << bit) != 0 {
            note(name.clone(), true);
        }
        if verdict.baseline_headers & (1 << bit) != 0 {
            note(name.clone(), false);
        }
    }
    for (path, _) in &verdict.body.paths {
        note(json_field(path), true);
    }
    let differences = u64::from(verdict.body.real) + u64::from(verdict.body.noise);
    if cut(verdict.body.paths.len(), differences) {
        note(OTHER.to_string(), true);
    }
    for path in &verdict.baseline_paths {
        note(json_field(path), false);
    }
    if cut(
        verdict.baseline_paths.len(),
        u64::from(verdict.baseline_differences),
    ) {
        note(OTHER.to_string(), false);
    }
    changes
}

/// Whether the diff left paths out: its list of `MAX_PATHS` distinct paths is full and more
/// differences were counted (a path such as `items.*.price` is listed once however many items
/// differ, so fewer names than differences alone says nothing).
fn cut(listed: usize, differences: u64) -> bool {
    listed >= MAX_PATHS && differences > listed as u64
}

/// A differing path as the diff writes it (`items.*.price`, data-like keys already `{}`) as a
/// field: `$.items.*.price`, at most `MAX_FIELD_SEGMENTS` segments (deeper ones are one
/// `{*}`); `body` for the whole body (`$`).
pub fn json_field(path: &str) -> String {
    if path == ROOT_PATH {
        return BODY_FIELD.to_string();
    }
    let mut field = String::with_capacity(path.len().min(128) + JSON_FIELD_PREFIX.len());
    field.push_str(JSON_FIELD_PREFIX);
    for (i, segment) in path.split('.').enumerate() {
        if i == MAX_FIELD_SEGMENTS {
            field.push_str(".{*}");
            break;
        }
        if i > 0 {
            field.push('.');
        }
        field.push_str(segment);
    }
    field
}

/// A label value as it may stand in a stat name: what would end the value early (`;`), start
/// another tag (`=`) or break Envoy's or Prometheus' text (quotes, backslashes, control
/// characters) becomes `_`. Endpoint templates and fields cannot hold these (they are
/// refused in templates and data-like elsewhere); this is the last guard.
pub fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c == ';' || c == '=' || c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// One per-endpoint series' stat name, labels in Istio's tag convention:
/// `traffic_mirror_endpoint_compared.mirror_target=.=canary;.;endpoint=.=GET /users/{};.;`
/// (`extra`: the `aspect` or `field` tag).
pub fn series_name(
    metric: &str,
    target: &str,
    endpoint: &str,
    extra: Option<(&str, &str)>,
) -> String {
    let mut name = format!(
        "traffic_mirror_{metric}.mirror_target=.={};.;endpoint=.={};.;",
        tag_value(target),
        tag_value(endpoint)
    );
    if let Some((tag, value)) = extra {
        name.push_str(tag);
        name.push_str("=.=");
        name.push_str(&tag_value(value));
        name.push_str(";.;");
    }
    name
}

/// Names admitted for the whole Envoy under one shared-data key: a list of names, one per
/// line. Each key is created empty first (with a token no value has, so that it creates and
/// never overwrites), then names are added by compare-and-swap, so two workers admitting at
/// once both see each other's names.
#[derive(Debug)]
pub struct Admission {
    key: String,
    max: usize,
    /// Every admitted name, once the list is full: then a name not among them is `other`
    /// with no host call.
    full: Option<Vec<String>>,
}

impl Admission {
    pub fn new(key: String, max: usize) -> Admission {
        Admission {
            key,
            max,
            full: None,
        }
    }

    /// Whether `name` is admitted (by this worker now, or by any worker before). A host that
    /// fails, or a list that keeps changing, leaves it out this once.
    pub fn admit(&mut self, shared: SharedDataHost, name: &str) -> bool {
        if let Some(admitted) = &self.full {
            return admitted.iter().any(|n| n == name);
        }
        for _ in 0..CAS_ATTEMPTS {
            let (list, token) = match (shared.get)(&self.key) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    // Created only if still absent: an existing key carries another token.
                    let _ = (shared.set)(&self.key, b"", u32::MAX);
                    continue;
                }
                Err(_) => return false,
            };
            let text = String::from_utf8_lossy(&list);
            let mut names = text.split('\n').filter(|n| !n.is_empty());
            if names.clone().any(|n| n == name) {
                return true;
            }
            if names.clone().count() >= self.max {
                self.full = Some(names.by_ref().map(String::from).collect());
                return false;
            }
            let mut updated = list.clone();
            if !updated.is_empty() {
                updated.push(b'\n');
            }
            updated.extend_from_slice(name.as_bytes());
            match (shared.set)(&self.key, &updated, token) {
                Ok(()) => return true,
                Err(_) => continue,
            }
        }
        false
    }
}

/// The two series of one field.
#[derive(Debug)]
struct FieldSeries {
    differed: Option<Tallied>,
    noise: Option<Tallied>,
}

/// One endpoint's series and its fields.
#[derive(Debug)]
struct EndpointSeries {
    label: Rc<str>,
    /// compared, matched, mismatched, mismatched_aspect status, headers, body.
    counts: Vec<Option<Tallied>>,
    /// At most `max_fields_per_endpoint`: a short list.
    fields: Vec<(Rc<str>, FieldSeries)>,
    other_field: Option<(Rc<str>, FieldSeries)>,
    admission: Admission,
}

const ASPECTS: [&str; 3] = ["status", "headers", "body"];
/// The per-endpoint metrics, after `traffic_mirror_`, in a series' `counts` order (the aspect
/// metric once per aspect).
pub const ENDPOINT_METRICS: [&str; 4] = [
    "endpoint_compared",
    "endpoint_matched",
    "endpoint_mismatched",
    "endpoint_mismatched_aspect",
];
/// The per-field metrics, after `traffic_mirror_`.
pub const FIELD_METRICS: [&str; 2] = ["field_differed", "field_noise"];

/// A candidate target's per-endpoint series in this worker.
#[derive(Debug)]
pub struct TargetAccounts {
    target: Rc<str>,
    /// Prefix of this configuration's and target's shared-data keys.
    key: String,
    max_fields: usize,
    /// The admitted endpoints' series, in the order they were admitted.
    endpoints: Vec<EndpointSeries>,
    /// Where each admitted endpoint's series is in `endpoints`: one look-up per comparison.
    by_label: HashMap<Rc<str>, usize>,
    other: Option<EndpointSeries>,
    admission: Admission,
    metrics: MetricHost,
    shared: SharedDataHost,
    /// Counts are waiting for `flush`.
    pending: bool,
}

/// An ended comparison as it was counted: its endpoint and fields as admitted (or `other`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub endpoint: Rc<str>,
    pub fields: Vec<FieldChange<Rc<str>>>,
}

impl TargetAccounts {
    /// The accounts of candidate `target` under the configuration whose hash is
    /// `configuration`; the configured templates are admitted (and their series defined) now,
    /// so that their series exist before their first count.
    pub fn new(
        configuration: u64,
        target: &str,
        endpoints: &Endpoints,
        max_endpoints: usize,
        max_fields: usize,
        metrics: MetricHost,
        shared: SharedDataHost,
    ) -> TargetAccounts {
        let key = format!("traffic_mirror/{configuration:016x}/{target}");
        let mut accounts = TargetAccounts {
            target: Rc::from(target),
            admission: Admission::new(format!("{key}/endpoints"), max_endpoints),
            key,
            max_fields,
            endpoints: Vec::new(),
            by_label: HashMap::new(),
            other: None,
            metrics,
            shared,
            pending: false,
        };
        for label in endpoints.labels() {
            accounts.endpoint(label);
        }
        accounts
    }

    /// Counts an ended comparison of `endpoint`.
    pub fn record(&mut self, endpoint: &str, verdict: &Verdict, spec: &CompareSpec) -> Counted {
        let changes = field_changes(verdict, spec);
        self.pending = true;
        let (target, metrics, shared) = (Rc::clone(&self.target), self.metrics, self.shared);
        let series = self.endpoint(endpoint);
        let aspects = verdict.mismatched;
        let matched = verdict.matched();
        let flags = [
            true,
            matched,
            !matched,
            aspects.status,
            aspects.headers,
            aspects.body,
        ];
        for (count, yes) in series.counts.iter().zip(flags) {
            if let (Some(count), true) = (count, yes) {
                count.add(1);
            }
        }
        let fields = changes
            .into_iter()
            .map(|change| {
                let field = series.field(&target, metrics, shared, &change.field);
                FieldChange {
                    field,
                    differed: change.differed,
                    noise: change.noise,
                }
            })
            .collect::<Vec<_>>();
        // Two fields counted as `other` are one comparison in `other`.
        let mut counted: Vec<FieldChange<Rc<str>>> = Vec::with_capacity(fields.len());
        for change in fields {
            match counted.iter_mut().find(|c| c.field == change.field) {
                Some(known) => {
                    known.differed |= change.differed;
                    known.noise |= change.noise;
                }
                None => counted.push(change),
            }
        }
        for change in &counted {
            if let Some(field) = series.field_series(&change.field) {
                for (count, yes) in [
                    (&field.differed, change.differed),
                    (&field.noise, change.noise),
                ] {
                    if let (Some(count), true) = (count, yes) {
                        count.add(1);
                    }
                }
            }
        }
        Counted {
            endpoint: Rc::clone(&series.label),
            fields: counted,
        }
    }

    /// The series of `label`, admitted (or `other`).
    fn endpoint(&mut self, label: &str) -> &mut EndpointSeries {
        let mut at = self.by_label.get(label).copied();
        if at.is_none() && self.admission.admit(self.shared, label) {
            let series = EndpointSeries::define(
                &self.target,
                &self.key,
                label,
                self.max_fields,
                self.metrics,
            );
            self.by_label
                .insert(Rc::clone(&series.label), self.endpoints.len());
            at = Some(self.endpoints.len());
            self.endpoints.push(series);
        }
        let (target, key, max_fields, metrics) =
            (&self.target, &self.key, self.max_fields, self.metrics);
        match at.and_then(|at| self.endpoints.get_mut(at)) {
            Some(series) => series,
            None => self.other.get_or_insert_with(|| {
                EndpointSeries::define(target, key, OTHER, max_fields, metrics)
            }),
        }
    }

    /// Whether counts wait for `flush`.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Hands every pending count to the host; true if there were any.
    pub fn flush(&mut self) -> bool {
        // Nothing recorded since the last flush (most ticks): no series to go through.
        if !std::mem::replace(&mut self.pending, false) {
            return false;
        }
        let mut increment = |id, delta| (self.metrics.increment)(id, delta);
        let mut any = false;
        let mut flush = |count: &Option<Tallied>| {
            if let Some(count) = count {
                any |= count.flush(&mut increment);
            }
        };
        for series in self.endpoints.iter().chain(&self.other) {
            series.counts.iter().for_each(&mut flush);
            for (_, field) in series.fields.iter().chain(&series.other_field) {
                flush(&field.differed);
                flush(&field.noise);
            }
        }
        any
    }

    /// Endpoints this worker holds series for (`other` included once used).
    pub fn endpoints_held(&self) -> usize {
        self.endpoints.len() + usize::from(self.other.is_some())
    }
}

impl Drop for TargetAccounts {
    /// A replaced configuration's last counts still go out.
    fn drop(&mut self) {
        self.flush();
    }
}

impl EndpointSeries {
    fn define(
        target: &str,
        key: &str,
        label: &str,
        max_fields: usize,
        metrics: MetricHost,
    ) -> EndpointSeries {
        let counter = |metric: &str, extra| {
            Tallied::define(
                metrics,
                MetricType::Counter,
                &series_name(metric, target, label, extra),
            )
            .ok()
        };
        let [compared, matched, mismatched, aspect] = ENDPOINT_METRICS;
        let mut counts: Vec<Option<Tallied>> = [compared, matched, mismatched]
            .iter()
            .map(|metric| counter(metric, None))
            .collect();
        counts.extend(
            ASPECTS
                .iter()
                .map(|name| counter(aspect, Some(("aspect", name)))),
        );
        EndpointSeries {
            label: Rc::from(label),
            counts,
            fields: Vec::new(),
            other_field: None,
            admission: Admission::new(format!("{key}/fields/{label}"), max_fields),
        }
    }

    /// The admitted name of `field` under this endpoint (`other` past the bound), its series
    /// defined.
    fn field(
        &mut self,
        target: &str,
        metrics: MetricHost,
        shared: SharedDataHost,
        field: &str,
    ) -> Rc<str> {
        if let Some((name, _)) = self.fields.iter().find(|(name, _)| &**name == field) {
            return Rc::clone(name);
        }
        let label = Rc::clone(&self.label);
        let define = |name: &str| {
            let series = |metric| {
                Tallied::define(
                    metrics,
                    MetricType::Counter,
                    &series_name(metric, target, &label, Some(("field", name))),
                )
                .ok()
            };
            let [differed, noise] = FIELD_METRICS;
            FieldSeries {
                differed: series(differed),
                noise: series(noise),
            }
        };
        if field != OTHER && self.admission.admit(shared, field) {
            let name: Rc<str> = Rc::from(field);
            self.fields.push((Rc::clone(&name), define(field)));
            return name;
        }
        let (name, _) = self
            .other_field
            .get_or_insert_with(|| (Rc::from(OTHER), define(OTHER)));
        Rc::clone(name)
    }

    fn field_series(&self, field: &str) -> Option<&FieldSeries> {
        self.fields
            .iter()
            .chain(&self.other_field)
            .find(|(name, _)| &**name == field)
            .map(|(_, series)| series)
    }
}

/// A hash of the configuration's text (FNV-1a): the same in every worker, so their shared-data
/// keys meet, and another for every other configuration.
pub fn configuration_hash(text: &[u8]) -> u64 {
    text.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::json::Differences;
    use crate::compare::verdict::Aspects;
    use crate::endpoints::Template;
    use crate::host::recording;

    fn body_verdict(paths: &[&str], baseline: &[&str]) -> Verdict {
        Verdict {
            mismatched: Aspects {
                body: !paths.is_empty(),
                ..Aspects::default()
            },
            body_not_compared: None,
            body: Differences {
                paths: paths.iter().map(|p| (p.to_string(), false)).collect(),
                real: paths.len() as u32,
                noise: 0,
            },
            baseline_paths: baseline.iter().map(|p| p.to_string()).collect(),
            baseline_differences: baseline.len() as u32,
            differing_headers: 0,
            baseline_status: false,
            baseline_headers: 0,
            candidate_status: Some(200),
            reference_status: Some(200),
        }
    }

    fn accounts(max_endpoints: usize, max_fields: usize) -> TargetAccounts {
        TargetAccounts::new(
            7,
            "canary",
            &Endpoints::default(),
            max_endpoints,
            max_fields,
            recording::METRICS,
            recording::SHARED_DATA,
        )
    }

    fn total(name: &str) -> i64 {
        recording::take_total(name)
    }

    fn compared(endpoint: &str) -> String {
        series_name("endpoint_compared", "canary", endpoint, None)
    }

    fn differed(endpoint: &str, field: &str) -> String {
        series_name("field_differed", "canary", endpoint, Some(("field", field)))
    }

    #[test]
    fn paths_become_fields_of_bounded_depth() {
        assert_eq!(json_field("items.*.price"), "$.items.*.price");
        assert_eq!(json_field("$"), "body");
        assert_eq!(json_field("status"), "$.status", "never the HTTP status");
        assert_eq!(json_field("a.a.a.a.a.a.a.a.a.a.a"), "$.a.a.a.a.a.a.a.a.{*}");
    }

    #[test]
    fn stat_names_carry_labels_in_istios_tag_convention() {
        assert_eq!(
            series_name("endpoint_compared", "canary", "GET /users/{}", None),
            "traffic_mirror_endpoint_compared.mirror_target=.=canary;.;endpoint=.=GET /users/{};.;"
        );
        assert_eq!(
            series_name("field_noise", "c", "/a", Some(("field", "$.items.*.price"))),
            "traffic_mirror_field_noise.mirror_target=.=c;.;endpoint=.=/a;.;field=.=$.items.*.price;.;"
        );
        assert_eq!(tag_value("a;.;b=.=c\"\\\n"), "a_._b_._c___");
    }

    #[test]
    fn the_series_formula_bounds_the_defaults_well_below_the_limit() {
        assert_eq!(series_per_target(32, 8), 33 * 24);
        assert_eq!(series_per_target(256, 64), 257 * 136);
        assert!(
            series_per_target(DEFAULT_MAX_ENDPOINTS, DEFAULT_MAX_FIELDS_PER_ENDPOINT) * 12
                <= MAX_SERIES
        );
    }

    #[test]
    fn each_comparison_counts_once_per_endpoint_and_field() {
        let mut a = accounts(4, 4);
        let spec = CompareSpec::new();
        let counted = a.record(
            "GET /users/{}",
            &body_verdict(&["items.*.price", "items.*.price"], &["ts"]),
            &spec,
        );
        assert_eq!(&*counted.endpoint, "GET /users/{}");
        let fields: Vec<(&str, bool, bool)> = counted
            .fields
            .iter()
            .map(|c| (&*c.field, c.differed, c.noise))
            .collect();
        assert_eq!(
            fields,
            [("$.items.*.price", true, false), ("$.ts", false, true)]
        );
        a.record("GET /users/{}", &body_verdict(&[], &[]), &spec);
        assert!(a.flush());
        assert_eq!(total(&compared("GET /users/{}")), 2);
        let matched = series_name("endpoint_matched", "canary", "GET /users/{}", None);
        assert_eq!(total(&matched), 1);
        assert_eq!(
            total(&differed("GET /users/{}", "$.items.*.price")),
            1,
            "once per comparison"
        );
        let body = series_name(
            "endpoint_mismatched_aspect",
            "canary",
            "GET /users/{}",
            Some(("aspect", "body")),
        );
        assert_eq!(total(&body), 1);
        assert!(!a.flush(), "each count goes once");
    }

    #[test]
    fn series_are_defined_when_admitted_before_any_count() {
        let templates = Endpoints::new(vec![Template::parse("GET /users/{id}").unwrap()]);
        let _a = TargetAccounts::new(
            1,
            "canary",
            &templates,
            4,
            4,
            recording::METRICS,
            recording::SHARED_DATA,
        );
        let names: Vec<String> = recording::defined().into_iter().map(|(_, n)| n).collect();
        assert!(names.contains(&compared("GET /users/{id}")), "{names:?}");
        assert_eq!(names.len(), ENDPOINT_SERIES, "no field series yet");
        assert!(recording::take_increments().is_empty());
    }

    #[test]
    fn endpoints_past_the_bound_count_as_other_for_every_worker() {
        // Two workers: two accounts over the same shared data.
        let mut first = accounts(2, 2);
        let mut second = accounts(2, 2);
        let spec = CompareSpec::new();
        let v = body_verdict(&[], &[]);
        first.record("GET /a", &v, &spec);
        second.record("GET /b", &v, &spec);
        for endpoint in ["GET /c", "GET /d", "GET /a"] {
            second.record(endpoint, &v, &spec);
        }
        first.record("GET /b", &v, &spec);
        first.record("GET /e", &v, &spec);
        first.flush();
        second.flush();
        assert_eq!(total(&compared("GET /a")), 2);
        assert_eq!(total(&compared("GET /b")), 2);
        assert_eq!(total(&compared(OTHER)), 3, "c, d, e");
        assert_eq!(total(&compared("GET /c")), 0);
        assert_eq!(
            recording::shared(),
            [(
                "traffic_mirror/0000000000000007/canary/endpoints".to_string(),
                b"GET /a\nGET /b".to_vec()
            )]
        );
        assert!(first.endpoints_held() <= 3 && second.endpoints_held() <= 3);
    }

    #[test]
    fn a_worker_admitting_at_the_same_moment_loses_nothing() {
        let mut first = accounts(8, 2);
        let spec = CompareSpec::new();
        let v = body_verdict(&[], &[]);
        // Between the first worker's read and write, a second worker admits its endpoint.
        recording::before_next_set(|| {
            // The first write creates the key empty; interfere with the one after.
            recording::before_next_set(|| {
                let mut second = accounts(8, 2);
                second.record("GET /b", &body_verdict(&[], &[]), &CompareSpec::new());
            });
        });
        first.record("GET /a", &v, &spec);
        let list = recording::shared().into_iter().next().unwrap().1;
        assert_eq!(String::from_utf8(list).unwrap(), "GET /b\nGET /a");
    }

    #[test]
    fn fields_past_the_bound_and_paths_the_diff_did_not_name_count_as_other() {
        let mut a = accounts(2, 2);
        let spec = CompareSpec::new();
        a.record("GET /x", &body_verdict(&["a", "b", "c", "d"], &[]), &spec);
        // The diff's list is full (MAX_PATHS distinct paths) and more paths differed.
        let mut names = vec!["a".to_string()];
        names.extend((1..MAX_PATHS).map(|i| format!("p{i}")));
        let listed: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut cut = body_verdict(&listed, &[]);
        cut.body.real = 40;
        let counted = a.record("GET /x", &cut, &spec);
        assert_eq!(counted.fields.len(), 2, "$.a and other: {counted:?}");
        // `items.*.x` is listed once however many items differ: no cut.
        let mut repeated = body_verdict(&["a"], &[]);
        repeated.body.real = 3;
        let counted = a.record("GET /x", &repeated, &spec);
        assert_eq!(counted.fields.len(), 1, "{counted:?}");
        a.flush();
        assert_eq!(total(&differed("GET /x", "$.a")), 3);
        assert_eq!(
            total(&differed("GET /x", OTHER)),
            2,
            "c and d once, the p's and the cut paths once"
        );
        assert_eq!(total(&differed("GET /x", "$.c")), 0);
    }

    #[test]
    fn status_and_headers_are_fields_with_their_noise() {
        let spec = CompareSpec {
            headers: vec!["etag".into(), "content-type".into()],
            ..CompareSpec::new()
        };
        let mut v = body_verdict(&[], &[]);
        v.mismatched.status = true;
        v.mismatched.headers = true;
        v.differing_headers = 0b10;
        v.baseline_headers = 0b11;
        v.baseline_status = true;
        let changes = field_changes(&v, &spec);
        let listed: Vec<(&str, bool, bool)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.differed, c.noise))
            .collect();
        assert_eq!(
            listed,
            [
                ("status", true, true),
                ("etag", false, true),
                ("content-type", true, true)
            ]
        );
    }

    #[test]
    fn a_failing_host_leaves_names_out_without_panicking() {
        let failing = SharedDataHost {
            get: |_| Err(crate::abi::HostStatus(10)),
            set: |_, _, _| Err(crate::abi::HostStatus(10)),
        };
        let mut a = TargetAccounts::new(
            1,
            "c",
            &Endpoints::default(),
            4,
            4,
            recording::METRICS,
            failing,
        );
        let counted = a.record("GET /a", &body_verdict(&["x"], &[]), &CompareSpec::new());
        assert_eq!(&*counted.endpoint, OTHER);
        assert_eq!(&*counted.fields[0].field, OTHER);
        let refusing = SharedDataHost {
            set: |_, _, _| Err(crate::abi::HostStatus::CAS_MISMATCH),
            ..recording::SHARED_DATA
        };
        let mut admission = Admission::new("k".into(), 4);
        assert!(
            !admission.admit(refusing, "a"),
            "gives up after a few attempts"
        );
    }
}
