//! From the tally to one verdict per target, and the report printed as a table or as JSON
//! (the schema is in docs/shadow-verification.md, "The verdict").

use crate::rule::{judge, Judgement, Thresholds};
use crate::tally::{EndpointCounts, Tally};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// A target's verdict, or the command's: ordered from best to worst, so the worst of several
/// is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Insufficient,
    Fail,
    Error,
}

impl Verdict {
    /// The command's exit status.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Insufficient => 2,
            Verdict::Error => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Insufficient => "insufficient",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

/// What decides: the rule's thresholds and how many comparisons a target needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub thresholds: Thresholds,
    pub min_compared: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldReport {
    pub field: String,
    pub differed: f64,
    pub noise: f64,
    pub judgement: Judgement,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointReport {
    pub endpoint: String,
    pub counts: EndpointCounts,
    /// Failing fields first, then by how often they differed, then by name.
    pub fields: Vec<FieldReport>,
}

impl EndpointReport {
    pub fn fails(&self) -> bool {
        self.fields.iter().any(|field| field.judgement.fails)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    pub target: String,
    pub verdict: Verdict,
    pub compared: f64,
    pub mismatched: f64,
    /// Failing endpoints first, then by name.
    pub endpoints: Vec<EndpointReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub policy: Policy,
    pub targets: Vec<TargetReport>,
    pub verdict: Verdict,
}

/// Judges each target of `wanted` (every target of the tally when empty). A wanted target
/// with no counters at all has compared nothing: `insufficient` (unless no comparison is
/// required).
pub fn evaluate(tally: &Tally, wanted: &[String], policy: Policy) -> Report {
    let names: BTreeSet<&String> = if wanted.is_empty() {
        tally.keys().collect()
    } else {
        wanted.iter().collect()
    };
    let targets: Vec<TargetReport> = names
        .into_iter()
        .map(|target| {
            let endpoints = tally.get(target).cloned().unwrap_or_default();
            judge_target(target, endpoints.into_iter().collect(), policy)
        })
        .collect();
    // No target at all (nothing seen, none asked for): nothing shows the canary is safe.
    let verdict = targets
        .iter()
        .map(|t| t.verdict)
        .max()
        .unwrap_or(if policy.min_compared == 0 {
            Verdict::Pass
        } else {
            Verdict::Insufficient
        });
    Report {
        policy,
        targets,
        verdict,
    }
}

fn judge_target(
    target: &str,
    endpoints: Vec<(String, EndpointCounts)>,
    policy: Policy,
) -> TargetReport {
    let mut reports: Vec<EndpointReport> = endpoints
        .into_iter()
        .map(|(endpoint, counts)| {
            let mut fields: Vec<FieldReport> = counts
                .fields
                .iter()
                .map(|(field, c)| FieldReport {
                    field: field.clone(),
                    differed: c.differed,
                    noise: c.noise,
                    judgement: judge(c.differed, c.noise, counts.compared, policy.thresholds),
                })
                .collect();
            fields.sort_by(|a, b| {
                b.judgement
                    .fails
                    .cmp(&a.judgement.fails)
                    .then(b.differed.total_cmp(&a.differed))
                    .then_with(|| a.field.cmp(&b.field))
            });
            EndpointReport {
                endpoint,
                counts,
                fields,
            }
        })
        .collect();
    reports.sort_by(|a, b| {
        b.fails()
            .cmp(&a.fails())
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    let compared: f64 = reports.iter().map(|e| e.counts.compared).sum();
    let mismatched: f64 = reports.iter().map(|e| e.counts.mismatched).sum();
    let verdict = if reports.iter().any(EndpointReport::fails) {
        Verdict::Fail
    } else if compared < policy.min_compared as f64 {
        Verdict::Insufficient
    } else {
        Verdict::Pass
    };
    TargetReport {
        target: target.to_string(),
        verdict,
        compared,
        mismatched,
        endpoints: reports,
    }
}

/// `part` of `whole`, percent; None when `whole` is 0.
fn rate(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

/// A number for JSON: counts from Prometheus' `increase()` are extrapolated, hence fractional.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn optional(value: Option<f64>) -> Value {
    value.map_or(Value::Null, number)
}

impl Report {
    /// The report as one JSON document; `source` says where the counters came from.
    pub fn to_json(&self, source: Value) -> Value {
        json!({
            "verdict": self.verdict.name(),
            "exit_code": self.verdict.exit_code(),
            "source": source,
            "relative_threshold": self.policy.thresholds.relative,
            "absolute_threshold": self.policy.thresholds.absolute,
            "min_compared": self.policy.min_compared,
            "targets": self.targets.iter().map(target_json).collect::<Vec<_>>(),
        })
    }

    /// The report as a table: per target and endpoint, then the verdict of each target.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for target in &self.targets {
            out += &format!(
                "target {}: {} compared, {} mismatched ({})\n",
                target.target,
                count(target.compared),
                count(target.mismatched),
                percent(rate(target.mismatched, target.compared))
            );
            for endpoint in &target.endpoints {
                let c = &endpoint.counts;
                out += &format!(
                    "  {}{}  compared {}, mismatched {}{}\n",
                    if endpoint.fails() { "FAIL " } else { "" },
                    endpoint.endpoint,
                    count(c.compared),
                    percent(rate(c.mismatched, c.compared)),
                    aspects(c)
                );
                for field in &endpoint.fields {
                    out += &format!(
                        "    {:<4} {}  differed {} ({}), noise {} ({}), relative {}, absolute {}\n",
                        if field.judgement.fails { "FAIL" } else { "ok" },
                        field.field,
                        count(field.differed),
                        percent(rate(field.differed, c.compared)),
                        count(field.noise),
                        percent(rate(field.noise, c.compared)),
                        percent(field.judgement.relative),
                        percent(field.judgement.absolute),
                    );
                }
            }
        }
        for target in &self.targets {
            out += &format!("verdict {}: {}", target.target, target.verdict.name());
            match target.verdict {
                Verdict::Fail => {
                    let failing: Vec<String> =
                        failing(target).map(|(e, f)| format!("{e} {f}")).collect();
                    out += &format!(" ({})", failing.join("; "));
                }
                Verdict::Insufficient => {
                    out += &format!(
                        " ({} compared, fewer than {})",
                        count(target.compared),
                        self.policy.min_compared
                    );
                }
                _ => {}
            }
            out.push('\n');
        }
        if self.targets.is_empty() {
            out += "no mirror target has compared anything\n";
        }
        out
    }
}

/// The (endpoint, field) pairs that fail the rule.
pub fn failing(target: &TargetReport) -> impl Iterator<Item = (&str, &str)> {
    target.endpoints.iter().flat_map(|endpoint| {
        endpoint
            .fields
            .iter()
            .filter(|field| field.judgement.fails)
            .map(|field| (endpoint.endpoint.as_str(), field.field.as_str()))
    })
}

fn target_json(target: &TargetReport) -> Value {
    json!({
        "target": target.target,
        "verdict": target.verdict.name(),
        "compared": number(target.compared),
        "mismatched": number(target.mismatched),
        "mismatch_rate": optional(rate(target.mismatched, target.compared)),
        "failing": failing(target)
            .map(|(endpoint, field)| json!({"endpoint": endpoint, "field": field}))
            .collect::<Vec<_>>(),
        "endpoints": target.endpoints.iter().map(|endpoint| {
            let c = &endpoint.counts;
            json!({
                "endpoint": endpoint.endpoint,
                "compared": number(c.compared),
                "matched": number(c.matched),
                "mismatched": number(c.mismatched),
                "mismatch_rate": optional(rate(c.mismatched, c.compared)),
                "aspects": c.aspects.iter().map(|(a, n)| (a.clone(), number(*n))).collect::<serde_json::Map<_, _>>(),
                "fails": endpoint.fails(),
                "fields": endpoint.fields.iter().map(|field| json!({
                    "field": field.field,
                    "differed": number(field.differed),
                    "noise": number(field.noise),
                    "differed_rate": optional(rate(field.differed, c.compared)),
                    "noise_rate": optional(rate(field.noise, c.compared)),
                    "relative": optional(field.judgement.relative),
                    "absolute": optional(field.judgement.absolute),
                    "fails": field.judgement.fails,
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

fn count(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn percent(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v != 0.0 && v.abs() < 0.1 => format!("{v:.3}%"),
        Some(v) => format!("{v:.1}%"),
    }
}

fn aspects(counts: &EndpointCounts) -> String {
    let listed: Vec<String> = counts
        .aspects
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(aspect, n)| format!("{aspect} {}", count(*n)))
        .collect();
    if listed.is_empty() {
        String::new()
    } else {
        format!(" ({})", listed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition;
    use crate::tally;

    const POLICY: Policy = Policy {
        thresholds: Thresholds {
            relative: 20.0,
            absolute: 0.03,
        },
        min_compared: 100,
    };

    fn tally_of(text: &str) -> Tally {
        let mut tally = Tally::new();
        tally::add(&mut tally, &exposition::parse(text).unwrap()).unwrap();
        tally
    }

    fn verdict_of(text: &str) -> Verdict {
        evaluate(&tally_of(text), &[], POLICY).verdict
    }

    /// `target` compared `n` times on `endpoint`; `field` differed `raw` times, noise `noise`.
    fn series(target: &str, endpoint: &str, n: u32, field: &str, raw: u32, noise: u32) -> String {
        let labels = format!("mirror_target=\"{target}\",endpoint=\"{endpoint}\"");
        format!(
            "traffic_mirror_endpoint_compared{{{labels}}} {n}\n\
             traffic_mirror_endpoint_mismatched{{{labels}}} {raw}\n\
             traffic_mirror_field_differed{{{labels},field=\"{field}\"}} {raw}\n\
             traffic_mirror_field_noise{{{labels},field=\"{field}\"}} {noise}\n"
        )
    }

    #[test]
    fn a_failing_field_fails_its_target_and_is_named() {
        let text = series("canary", "GET /users/{}", 150, "status", 30, 0)
            + &series("canary", "GET /orders", 150, "$.id", 0, 0);
        let report = evaluate(&tally_of(&text), &[], POLICY);
        assert_eq!(report.verdict, Verdict::Fail);
        let target = &report.targets[0];
        assert_eq!(
            failing(target).collect::<Vec<_>>(),
            [("GET /users/{}", "status")]
        );
        assert_eq!(
            target.endpoints[0].endpoint, "GET /users/{}",
            "failing endpoints first"
        );
        let table = report.to_table();
        assert!(
            table.contains("verdict canary: fail (GET /users/{} status)"),
            "{table}"
        );
        let document = report.to_json(json!({}));
        assert_eq!(document["exit_code"], 1);
        assert_eq!(document["targets"][0]["failing"][0]["field"], "status");
        assert_eq!(
            document["targets"][0]["endpoints"][0]["fields"][0]["relative"],
            100
        );
        assert_eq!(
            document["targets"][0]["endpoints"][1]["fields"][0]["relative"],
            Value::Null
        );
    }

    #[test]
    fn noise_on_the_baseline_too_passes() {
        let text = series("canary", "GET /users/{}", 200, "$.timestamp", 200, 195);
        assert_eq!(verdict_of(&text), Verdict::Pass);
    }

    #[test]
    fn too_few_comparisons_are_insufficient_but_a_failure_still_fails() {
        let few = series("canary", "GET /a", 99, "$.x", 0, 0);
        assert_eq!(verdict_of(&few), Verdict::Insufficient);
        let failing_few = series("canary", "GET /a", 20, "$.x", 5, 0);
        assert_eq!(verdict_of(&failing_few), Verdict::Fail);
        let enough = series("canary", "GET /a", 100, "$.x", 0, 0);
        assert_eq!(verdict_of(&enough), Verdict::Pass);
    }

    #[test]
    fn the_minimum_counts_over_every_endpoint_of_the_target() {
        let text = series("canary", "GET /a", 60, "$.x", 0, 0)
            + &series("canary", "GET /b", 60, "$.x", 0, 0);
        assert_eq!(verdict_of(&text), Verdict::Pass);
    }

    #[test]
    fn the_worst_target_wins() {
        let pass = series("good", "GET /a", 200, "$.x", 0, 0);
        let few = series("few", "GET /a", 10, "$.x", 0, 0);
        let bad = series("bad", "GET /a", 200, "$.x", 50, 0);
        let tally = tally_of(&(pass.clone() + &few + &bad));
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(evaluate(&tally, &[], POLICY).verdict, Verdict::Fail);
        assert_eq!(
            evaluate(&tally, &names(&["good", "few"]), POLICY).verdict,
            Verdict::Insufficient
        );
        assert_eq!(
            evaluate(&tally, &names(&["good"]), POLICY).verdict,
            Verdict::Pass
        );
        assert_eq!(
            evaluate(&tally, &names(&["few", "bad"]), POLICY).verdict,
            Verdict::Fail
        );
        assert!(Verdict::Error > Verdict::Fail);
    }

    #[test]
    fn a_target_asked_for_but_never_seen_is_insufficient() {
        let tally = tally_of(&series("canary", "GET /a", 200, "$.x", 0, 0));
        let report = evaluate(&tally, &["typo".to_string()], POLICY);
        assert_eq!(report.verdict, Verdict::Insufficient);
        assert_eq!(report.targets[0].compared, 0.0);
        assert_eq!(
            evaluate(&Tally::new(), &[], POLICY).verdict,
            Verdict::Insufficient
        );
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Insufficient,
            Verdict::Error,
        ]
        .iter()
        .map(|v| v.exit_code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
    }
}
