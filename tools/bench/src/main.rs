//! `make bench`: what traffic-mirror costs, against Envoy's native request mirroring.
//!
//! A backend Envoy answers everything itself (`direct_response`), so backends cost little and
//! the same in every scenario. A front Envoy (one worker) has one listener per scenario; `wrk`
//! loads them round by round, interleaved, and the front Envoy's CPU time per request (from
//! /proc/<pid>/stat) is the figure that holds still on a shared machine. Ratios are taken
//! within each round (the scenarios of a round ran seconds apart) and their median reported.
//!
//! Options: `--rounds N` (default 15), `--seconds N` per scenario and round (default 2),
//! `--slow-seconds N` for the slow-target run (default 30), `--smoke` (1 round of 1 s, a 2 s
//! slow run: checks the benchmark works, measures nothing), `--out FILE` (default
//! target/bench/results.json), `--profile` (instructions per request under callgrind instead,
//! written to profile.json beside `--out`; see profile.rs), `--slow-only` (the slow-target run
//! alone, its table on stdout), `--busy-worker-only` (a small request's latency while the
//! plugin works on 16 MB bodies: busy_worker.rs), `--calibrate-slices FILE` (fuel against
//! V8's instructions: calibrate.rs), `--host-costs` (Envoy's own copies of 64 MiB bodies:
//! host_costs.rs).

mod busy_worker;
mod calibrate;
mod documents;
mod host_costs;
mod load;
mod profile;
mod report;
mod setup;
mod worst;

use load::FixedRate;
use load::{h2load_fixed_rate, wrk, Sample};
use report::{Figures, Report, SlowTarget, Stat};
use setup::{Backend, Front, CAPPED_IN_FLIGHT};
use std::path::PathBuf;
use std::time::Duration;

/// A front listener and the load it gets.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub listener: &'static str,
    pub post_16k: bool,
}

pub const SCENARIOS: [Scenario; 10] = [
    Scenario {
        name: "none",
        listener: "none",
        post_16k: false,
    },
    Scenario {
        name: "empty_filter",
        listener: "empty_filter",
        post_16k: false,
    },
    Scenario {
        name: "native_mirror",
        listener: "native_mirror",
        post_16k: false,
    },
    Scenario {
        name: "plugin_mirror",
        listener: "plugin_mirror",
        post_16k: false,
    },
    Scenario {
        name: "plugin_sampled_out",
        listener: "plugin_sampled_out",
        post_16k: false,
    },
    Scenario {
        name: "plugin_mirror_json",
        listener: "plugin_mirror_json",
        post_16k: false,
    },
    Scenario {
        name: "plugin_compare",
        listener: "plugin_compare",
        post_16k: false,
    },
    Scenario {
        name: "plugin_compare_reordered",
        listener: "plugin_compare_reordered",
        post_16k: false,
    },
    Scenario {
        name: "native_mirror_body",
        listener: "native_mirror",
        post_16k: true,
    },
    Scenario {
        name: "plugin_mirror_body",
        listener: "plugin_mirror",
        post_16k: true,
    },
];

struct Options {
    profile: bool,
    slow_only: bool,
    worst_only: bool,
    busy_worker_only: bool,
    calibrate: Option<PathBuf>,
    host_costs: bool,
    smoke: bool,
    rounds: usize,
    seconds: u64,
    slow_seconds: u64,
    out: PathBuf,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            profile: false,
            slow_only: false,
            worst_only: false,
            busy_worker_only: false,
            calibrate: None,
            host_costs: false,
            smoke: false,
            rounds: 15,
            seconds: 2,
            slow_seconds: 30,
            out: mirror_harness::repo_root().join("target/bench/results.json"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--rounds" => options.rounds = number(&value()),
                "--seconds" => options.seconds = number(&value()),
                "--slow-seconds" => options.slow_seconds = number(&value()),
                "--out" => options.out = PathBuf::from(value()),
                "--profile" => options.profile = true,
                "--slow-only" => options.slow_only = true,
                "--worst-only" => options.worst_only = true,
                "--busy-worker-only" => options.busy_worker_only = true,
                "--calibrate-slices" => options.calibrate = Some(PathBuf::from(value())),
                "--host-costs" => options.host_costs = true,
                "--smoke" => {
                    options.smoke = true;
                    options.rounds = 1;
                    options.seconds = 1;
                    options.slow_seconds = 2;
                }
                other => usage(&format!("unknown option {other}")),
            }
        }
        options
    }
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{text} is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: mirror-bench [--rounds N] [--seconds N] [--slow-seconds N] [--smoke] [--profile] [--slow-only] [--worst-only] [--busy-worker-only] [--calibrate-slices FILE] [--host-costs] [--out FILE]");
    std::process::exit(2)
}

fn main() {
    let options = Options::from_args();
    // Worst-case input: 1 MB, 5 runs each (100 KB and one run in the smoke run).
    let (bytes, runs) = if options.smoke {
        (100_000, 1)
    } else {
        (1_000_000, 5)
    };
    if options.worst_only {
        return println!("{}", worst::table(&worst::measure(bytes, runs)));
    }
    // A small request beside the plugin's work on 16 MB bodies: 10 s a run (1 s when smoke).
    let busy_seconds = if options.smoke { 1 } else { 10 };
    if let Some(file) = &options.calibrate {
        return calibrate::run(file);
    }
    if options.host_costs {
        return host_costs::run();
    }
    if options.busy_worker_only {
        return println!(
            "{}",
            busy_worker::table(&busy_worker::measure(busy_seconds))
        );
    }
    let backend = Backend::start();
    if options.profile {
        let out = options.out.with_file_name("profile.json");
        return profile::run(&backend, &out);
    }
    let front = Front::start(&backend, 1);
    if options.slow_only {
        let slow = slow_target_run(&front, &backend, Duration::from_secs(options.slow_seconds));
        return println!("\n{}", slow.table());
    }
    println!(
        "front Envoy pid {} (1 worker), backend Envoy pid {}; {} rounds of {} s per scenario",
        front.envoy.pid(),
        backend.envoy.pid(),
        options.rounds,
        options.seconds
    );

    for scenario in SCENARIOS {
        wrk(
            front.address(scenario),
            Duration::from_secs(1),
            scenario.post_16k,
        ); // warm-up
    }
    let mut rounds: Vec<Vec<(Scenario, Sample)>> = Vec::new();
    for round in 1..=options.rounds {
        let mut samples = Vec::new();
        // Each round starts at another scenario, so none always runs first or after the same one.
        let order = SCENARIOS
            .iter()
            .cycle()
            .skip(round % SCENARIOS.len())
            .take(SCENARIOS.len());
        for &scenario in order {
            let sample = front.measure(&backend, scenario, Duration::from_secs(options.seconds));
            println!("round {round} {:<20} {sample}", scenario.name);
            samples.push((scenario, sample));
        }
        rounds.push(samples);
    }

    // The comparison scenarios must really compare: equal answers, every comparison a match.
    for target in ["bench_compare", "bench_reordered"] {
        let matched = front.plugin_metric(target, "matched");
        let mismatched = front.plugin_metric(target, "mismatched");
        assert!(
            matched > 0 && mismatched == 0,
            "{target}: {matched} matched, {mismatched} mismatched"
        );
    }

    let worst_cases = worst::measure(bytes, runs);
    println!("{}", worst::table(&worst_cases));
    println!(
        "{}",
        busy_worker::table(&busy_worker::measure(busy_seconds))
    );
    let memory_overhead = setup::memory_overhead(&backend);
    let slow_target = slow_target_run(&front, &backend, Duration::from_secs(options.slow_seconds));
    let report = Report {
        figures: Figures::from_rounds(&rounds),
        wasm_bytes: std::fs::metadata(mirror_harness::wasm_path())
            .map(|m| m.len())
            .unwrap_or(0),
        memory_overhead,
        slow_target,
        worst_cases,
        rounds: options.rounds,
        seconds: options.seconds,
        envoy_version: front.version(),
    };
    println!("\n{}", report.table());
    report.write_json(&options.out);
    println!("wrote {}", options.out.display());
}

/// Originals at a fixed rate while the mirror target takes 1 s per copy, beside the same rate
/// with a healthy target: the originals' latency must not follow the target's. The machine is
/// shared and noisy, so the run is a series of 5 s triples (healthy, slow, healthy again): each
/// slow stretch is compared with the healthy one just before it (the cost), and the second
/// healthy stretch with the same one (the noise, an A/A comparison). A cost is real only if it
/// stands out of the noise.
fn slow_target_run(front: &Front, backend: &Backend, duration: Duration) -> SlowTarget {
    const RATE: u32 = 200;
    let stretch = duration.min(Duration::from_secs(5));
    let triples = (duration.as_secs() / stretch.as_secs().max(1)).max(1);
    println!(
        "\nslow target: {RATE} req/s, {triples} triples of {stretch:?} stretches: healthy target, \
         a target that takes 1 s per copy, healthy again"
    );
    let sampler = front.sample_memory_every(Duration::from_secs(2));
    let (mut befores, mut afters, mut slow) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cost, mut noise) = (Vec::new(), Vec::new());
    // The front Envoy's CPU time per original in each kind of stretch: whether a slow target
    // costs the worker anything shows here, whatever the latency noise.
    let (mut healthy_cpu, mut slow_cpu) = (Vec::new(), Vec::new());
    let pid = front.envoy.pid();
    let cpu_per_request = |run: &load::FixedRateRun, seconds: f64| {
        seconds * 1e6 / run.latencies_ms.len().max(1) as f64
    };
    for triple in 1..=triples {
        let cpu = setup::cpu_seconds(pid);
        let before = h2load_fixed_rate(front.listener("plugin_mirror"), RATE, stretch);
        let cpu_before = setup::cpu_seconds(pid) - cpu;
        let during = h2load_fixed_rate(front.listener("plugin_slow_target"), RATE, stretch);
        let cpu_during = setup::cpu_seconds(pid) - cpu - cpu_before;
        let after = h2load_fixed_rate(front.listener("plugin_mirror"), RATE, stretch);
        let p99 = |run: &load::FixedRateRun| FixedRate::of(std::slice::from_ref(run)).p99_ms;
        cost.push(p99(&during) / p99(&before));
        noise.push(p99(&after) / p99(&before));
        healthy_cpu.push(cpu_per_request(&before, cpu_before));
        slow_cpu.push(cpu_per_request(&during, cpu_during));
        println!(
            "triple {triple}: originals p99 {:.2} ms healthy, {:.2} ms slow, {:.2} ms healthy; \
             front CPU {:.0} us/request healthy, {:.0} slow",
            p99(&before),
            p99(&during),
            p99(&after),
            healthy_cpu.last().copied().unwrap_or(f64::NAN),
            slow_cpu.last().copied().unwrap_or(f64::NAN)
        );
        befores.push(before);
        afters.push(after);
        slow.push(during);
    }
    let copies_in_flight_at_end = backend.slow_copies_in_flight();
    let memory = sampler.stop();

    println!("capped slow target: {RATE} req/s for {duration:?}, max_in_flight {CAPPED_IN_FLIGHT}");
    let sampler = front.sample_memory_every(Duration::from_secs(2));
    let capped = h2load_fixed_rate(front.listener("plugin_slow_capped"), RATE, duration);
    let capped_memory = sampler.stop();
    SlowTarget {
        rate: RATE,
        healthy: FixedRate::of(&[befores.as_slice(), afters.as_slice()].concat()),
        slow: FixedRate::of(&slow),
        pooled_noise: FixedRate::of(&afters).p99_ms / FixedRate::of(&befores).p99_ms,
        p99_cost: Stat::of(&cost),
        p99_noise: Stat::of(&noise),
        cpu_us_healthy: Stat::of(&healthy_cpu),
        cpu_us_slow: Stat::of(&slow_cpu),
        memory_allocated_bytes: memory,
        copies_in_flight_at_end,
        capped: FixedRate::of(&[capped]),
        capped_memory_allocated_bytes: capped_memory,
        capped_in_flight_limited: front.plugin_metric("bench_capped", "in_flight_limited"),
        capped_in_flight_at_end: front.plugin_metric("bench_capped", "in_flight"),
    }
}
