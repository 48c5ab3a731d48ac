//! Medians, ratios, the table on stdout and target/bench/results.json.

use crate::load::{FixedRate, Sample};
use crate::setup::MemoryOverhead;
use crate::{Scenario, SCENARIOS};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Median with the spread it came from.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Stat {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let median = match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Stat {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }

    fn json(&self) -> Value {
        json!({"median": round(self.median), "min": round(self.min), "max": round(self.max)})
    }
}

/// A ratio between two scenarios, and the figure it compares.
struct RatioSpec {
    name: &'static str,
    numerator: &'static str,
    denominator: &'static str,
    figure: fn(&Sample) -> f64,
    target: f64,
}

const RATIOS: [RatioSpec; 6] = [
    RatioSpec {
        name: "plugin_vs_native_cpu",
        numerator: "plugin_mirror",
        denominator: "native_mirror",
        figure: cpu,
        target: 1.10,
    },
    RatioSpec {
        name: "sampled_out_vs_empty_cpu",
        numerator: "plugin_sampled_out",
        denominator: "empty_filter",
        figure: cpu,
        target: 1.05,
    },
    RatioSpec {
        name: "sampled_out_vs_none_cpu",
        numerator: "plugin_sampled_out",
        denominator: "none",
        figure: cpu,
        target: f64::NAN,
    },
    RatioSpec {
        name: "plugin_body_vs_native_body_cpu",
        numerator: "plugin_mirror_body",
        denominator: "native_mirror_body",
        figure: cpu,
        target: 1.25,
    },
    RatioSpec {
        name: "compare_vs_mirror_cpu",
        numerator: "plugin_compare",
        denominator: "plugin_mirror_json",
        figure: cpu,
        target: 1.15,
    },
    RatioSpec {
        name: "plugin_vs_native_p99",
        numerator: "plugin_mirror",
        denominator: "native_mirror",
        figure: p99,
        target: 1.10,
    },
];

fn cpu(sample: &Sample) -> f64 {
    sample.cpu_us_per_req
}

fn p99(sample: &Sample) -> f64 {
    sample.p99_ms
}

pub struct ScenarioFigures {
    pub scenario: Scenario,
    pub cpu_us_per_req: Stat,
    pub rps: Stat,
    pub p50_ms: Stat,
    pub p99_ms: Stat,
    pub copies_per_request: Stat,
}

pub struct Figures {
    pub scenarios: Vec<ScenarioFigures>,
    /// Per-round ratios, summarised: rounds drift on a shared machine, scenarios of one round
    /// ran seconds apart.
    pub ratios: Vec<(&'static str, Stat, f64)>,
}

impl Figures {
    pub fn from_rounds(rounds: &[Vec<(Scenario, Sample)>]) -> Figures {
        let samples_of = |name: &str| -> Vec<Sample> {
            rounds
                .iter()
                .flatten()
                .filter(|(s, _)| s.name == name)
                .map(|(_, sample)| *sample)
                .collect()
        };
        let scenarios = SCENARIOS
            .iter()
            .map(|scenario| {
                let samples = samples_of(scenario.name);
                let stat = |figure: fn(&Sample) -> f64| {
                    Stat::of(&samples.iter().map(figure).collect::<Vec<_>>())
                };
                ScenarioFigures {
                    scenario: *scenario,
                    cpu_us_per_req: stat(|s| s.cpu_us_per_req),
                    rps: stat(|s| s.rps),
                    p50_ms: stat(|s| s.p50_ms),
                    p99_ms: stat(|s| s.p99_ms),
                    copies_per_request: stat(|s| s.copies_per_request),
                }
            })
            .collect();
        let ratios = RATIOS
            .iter()
            .map(|spec| {
                let per_round: Vec<f64> = rounds
                    .iter()
                    .filter_map(|round| {
                        let find = |name| {
                            round
                                .iter()
                                .find(|(s, _)| s.name == name)
                                .map(|(_, sample)| sample)
                        };
                        Some(
                            (spec.figure)(find(spec.numerator)?)
                                / (spec.figure)(find(spec.denominator)?),
                        )
                    })
                    .collect();
                (spec.name, Stat::of(&per_round), spec.target)
            })
            .collect();
        Figures { scenarios, ratios }
    }
}

pub struct SlowTarget {
    pub rate: u32,
    pub healthy: FixedRate,
    pub slow: FixedRate,
    /// Per triple, the slow stretch's p99 over the healthy one's before it.
    pub p99_cost: Stat,
    /// Per triple, the second healthy stretch's p99 over the first's: the machine's noise.
    pub p99_noise: Stat,
    /// The second healthy stretches' pooled p99 over the first ones': the pooled ratio's noise.
    pub pooled_noise: f64,
    /// The front Envoy's CPU time per original, in the healthy stretches before each slow one
    /// and in the slow ones.
    pub cpu_us_healthy: Stat,
    pub cpu_us_slow: Stat,
    pub memory_allocated_bytes: Vec<(u64, u64)>,
    pub copies_in_flight_at_end: u64,
    /// The same slow target with `max_in_flight`: memory must level off at the cap.
    pub capped: FixedRate,
    pub capped_memory_allocated_bytes: Vec<(u64, u64)>,
    pub capped_in_flight_limited: u64,
    pub capped_in_flight_at_end: u64,
}

impl SlowTarget {
    fn p99_ratio(&self) -> f64 {
        self.slow.p99_ms / self.healthy.p99_ms
    }

    pub fn table(&self) -> String {
        let (cost, noise) = (&self.p99_cost, &self.p99_noise);
        let mut out = format!(
            "slow target ({} req/s, copies take 1 s): originals p99 {:.2} ms vs {:.2} ms with a healthy \
             target, pooled (ratio {:.3}, target <= 1.10; the same ratio between the healthy stretches \
             after and before: {:.3}); p50 {:.2} vs {:.2} ms; failed originals {} + {}\n\
             per triple, slow / healthy before: median {:.3} ({:.3}-{:.3}); healthy after / healthy \
             before (noise): median {:.3} ({:.3}-{:.3})\n\
             front CPU per original: {:.0} us ({:.0}-{:.0}) healthy, {:.0} us ({:.0}-{:.0}) slow\n\
             allocated memory, healthy and slow stretches alternating (s: bytes): {}\n",
            self.rate,
            self.slow.p99_ms,
            self.healthy.p99_ms,
            self.p99_ratio(),
            self.pooled_noise,
            self.slow.p50_ms,
            self.healthy.p50_ms,
            self.healthy.failed,
            self.slow.failed,
            cost.median,
            cost.min,
            cost.max,
            noise.median,
            noise.min,
            noise.max,
            self.cpu_us_healthy.median,
            self.cpu_us_healthy.min,
            self.cpu_us_healthy.max,
            self.cpu_us_slow.median,
            self.cpu_us_slow.min,
            self.cpu_us_slow.max,
            series(&self.memory_allocated_bytes)
        );
        out.push_str(&format!(
            "capped slow target (max_in_flight {}): originals p99 {:.2} ms, {} copies refused as in flight, {} in \
             flight at the end; allocated memory (s: bytes): {}\n",
            crate::setup::CAPPED_IN_FLIGHT,
            self.capped.p99_ms,
            self.capped_in_flight_limited,
            self.capped_in_flight_at_end,
            series(&self.capped_memory_allocated_bytes)
        ));
        out
    }
}

pub struct Report {
    pub figures: Figures,
    pub wasm_bytes: u64,
    pub memory_overhead: MemoryOverhead,
    pub slow_target: SlowTarget,
    pub worst_cases: Vec<crate::worst::Case>,
    pub rounds: usize,
    pub seconds: u64,
    pub envoy_version: String,
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} rounds x {} s per scenario; median (min-max). Envoy {}\n\n",
            self.rounds, self.seconds, self.envoy_version
        );
        out.push_str(&format!(
            "{:<20} {:>22} {:>24} {:>8} {:>20} {:>10}\n",
            "scenario", "front CPU us/request", "requests/s", "p50 ms", "p99 ms", "copies/req"
        ));
        for f in &self.figures.scenarios {
            out.push_str(&format!(
                "{:<20} {:>22} {:>24} {:>8.2} {:>20} {:>10.2}\n",
                f.scenario.name,
                spread(&f.cpu_us_per_req, 1),
                spread(&f.rps, 0),
                f.p50_ms.median,
                spread(&f.p99_ms, 2),
                f.copies_per_request.median,
            ));
        }
        out.push_str(
            "\nratio (median of per-round ratios)         value        min-max      target\n",
        );
        for (name, stat, target) in &self.figures.ratios {
            let target = if target.is_nan() {
                "-".to_string()
            } else {
                format!("<= {target:.2}")
            };
            out.push_str(&format!(
                "{name:<40} {:>8.3}  {:>6.3}-{:<6.3}  {target}\n",
                stat.median, stat.min, stat.max
            ));
        }
        let memory = self.memory_overhead;
        out.push_str(&format!(
            "\nwasm file: {} bytes (target <= 300 KB)\n\
             Envoy allocated memory, 2 workers: {} bytes without the plugin, {} with: overhead {} bytes\n",
            self.wasm_bytes,
            memory.without,
            memory.with,
            memory.with as i64 - memory.without as i64
        ));
        out.push_str(&self.slow_target.table());
        out.push_str(&crate::worst::table(&self.worst_cases));
        out
    }

    pub fn json(&self) -> Value {
        let mut scenarios = Map::new();
        for f in &self.figures.scenarios {
            scenarios.insert(
                f.scenario.name.to_string(),
                json!({
                    "cpu_us_per_req": round(f.cpu_us_per_req.median),
                    "rps": round(f.rps.median),
                    "p50_ms": round(f.p50_ms.median),
                    "p99_ms": round(f.p99_ms.median),
                    "copies_per_request": round(f.copies_per_request.median),
                    "spread": {
                        "cpu_us_per_req": f.cpu_us_per_req.json(),
                        "rps": f.rps.json(),
                        "p50_ms": f.p50_ms.json(),
                        "p99_ms": f.p99_ms.json(),
                    }
                }),
            );
        }
        let ratios: Map<String, Value> = self
            .figures
            .ratios
            .iter()
            .map(|(name, stat, _)| (name.to_string(), json!(round(stat.median))))
            .collect();
        let ratio_spread: Map<String, Value> = self
            .figures
            .ratios
            .iter()
            .map(|(name, stat, _)| (name.to_string(), stat.json()))
            .collect();
        let slow = &self.slow_target;
        json!({
            "scenarios": scenarios,
            "ratios": ratios,
            "ratio_spread": ratio_spread,
            "wasm_bytes": self.wasm_bytes,
            "memory_overhead_bytes": self.memory_overhead.with as i64 - self.memory_overhead.without as i64,
            "memory_allocated_bytes": {"without_plugin": self.memory_overhead.without, "with_plugin": self.memory_overhead.with},
            "slow_target": {
                "rate_rps": slow.rate,
                "healthy": fixed_rate_json(&slow.healthy),
                "slow": fixed_rate_json(&slow.slow),
                "p99_ratio": round(slow.p99_ratio()),
                "p99_ratio_per_triple": slow.p99_cost.json(),
                "p99_noise_per_triple": slow.p99_noise.json(),
                "p99_ratio_noise": round(slow.pooled_noise),
                "front_cpu_us_per_request": {"healthy": slow.cpu_us_healthy.json(), "slow": slow.cpu_us_slow.json()},
                "memory_allocated_bytes": slow.memory_allocated_bytes,
                "copies_in_flight_at_end": slow.copies_in_flight_at_end,
                "capped": {
                    "max_in_flight": crate::setup::CAPPED_IN_FLIGHT,
                    "originals": fixed_rate_json(&slow.capped),
                    "memory_allocated_bytes": slow.capped_memory_allocated_bytes,
                    "in_flight_limited": slow.capped_in_flight_limited,
                    "in_flight_at_end": slow.capped_in_flight_at_end,
                },
            },
            "worst_case_input": crate::worst::json(&self.worst_cases),
            "rounds": self.rounds,
            "seconds_per_scenario": self.seconds,
            "envoy_version": self.envoy_version,
        })
    }

    pub fn write_json(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create output directory");
        }
        let text = serde_json::to_string_pretty(&self.json()).expect("json");
        std::fs::write(path, text + "\n").expect("write results");
    }
}

fn series(samples: &[(u64, u64)]) -> String {
    samples
        .iter()
        .map(|(s, b)| format!("{s}: {b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fixed_rate_json(run: &FixedRate) -> Value {
    json!({"requests": run.requests, "failed": run.failed, "p50_ms": round(run.p50_ms), "p99_ms": round(run.p99_ms)})
}

fn spread(stat: &Stat, decimals: usize) -> String {
    format!(
        "{:.d$} ({:.d$}-{:.d$})",
        stat.median,
        stat.min,
        stat.max,
        d = decimals
    )
}

/// Four decimals are plenty; NaN (no data) becomes null in JSON.
fn round(value: f64) -> Option<f64> {
    value
        .is_finite()
        .then(|| (value * 10_000.0).round() / 10_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let stat = Stat::of(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((stat.median, stat.min, stat.max), (2.0, 1.0, 3.0));
        assert_eq!(Stat::of(&[1.0, 2.0, 3.0, 4.0]).median, 2.5);
        assert!(Stat::of(&[]).median.is_nan());
    }
}
