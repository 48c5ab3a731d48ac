//! `mirror-bench --profile` (`make profile`): machine instructions per request, counted by
//! valgrind's callgrind in the front Envoy. Unlike CPU time on a shared machine, the counts
//! repeat to within a fraction of a percent, so small differences between scenarios (or
//! between two builds of the plugin) can be seen. Requests are sent at a low rate (valgrind
//! slows Envoy down about fifty times), so batching under load is not part of these figures.

use crate::setup::{front_listener, start_front, Backend};
use mirror_harness::{Envoy, Launch};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const REQUESTS: u32 = 1000;
const WARM_UP_REQUESTS: u32 = 300;

struct Case {
    name: &'static str,
    listener: &'static str,
    post_16k: bool,
    /// Sent with W3C trace context and baggage headers (the baggage marker's work).
    traced: bool,
}

/// The trace context and baggage of `plugin_mirror_traced`, as an instrumented client sends
/// them (the W3C specifications' examples).
const TRACE_HEADERS: [&str; 3] = [
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    "baggage: userId=alice,serverNode=DF%2028,isProduction=false",
];

/// Valgrind reserves address space per wasm VM; a few VMs per Envoy is what fits.
const GROUPS: [&[Case]; 3] = [
    &[
        Case {
            name: "none",
            listener: "none",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "empty_filter",
            listener: "empty_filter",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "native_mirror",
            listener: "native_mirror",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "native_mirror_traced",
            listener: "native_mirror",
            post_16k: false,
            traced: true,
        },
        Case {
            name: "native_mirror_body",
            listener: "native_mirror",
            post_16k: true,
            traced: false,
        },
    ],
    &[
        Case {
            name: "dispatch_floor",
            listener: "dispatch_floor",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "dispatch_floor_traced",
            listener: "dispatch_floor",
            post_16k: false,
            traced: true,
        },
        Case {
            name: "plugin_mirror",
            listener: "plugin_mirror",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "plugin_mirror_traced",
            listener: "plugin_mirror",
            post_16k: false,
            traced: true,
        },
        Case {
            name: "plugin_sampled_out",
            listener: "plugin_sampled_out",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "plugin_mirror_body",
            listener: "plugin_mirror",
            post_16k: true,
            traced: false,
        },
    ],
    &[
        Case {
            name: "plugin_mirror_json",
            listener: "plugin_mirror_json",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "plugin_compare",
            listener: "plugin_compare",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "plugin_compare_same_bytes",
            listener: "plugin_compare_same_bytes",
            post_16k: false,
            traced: false,
        },
        Case {
            name: "plugin_compare_reordered",
            listener: "plugin_compare_reordered",
            post_16k: false,
            traced: false,
        },
    ],
];

const RATIOS: [(&str, &str, &str); 12] = [
    // Envoy's own share: the same headers through its native mirror.
    (
        "native_traced_vs_native",
        "native_mirror_traced",
        "native_mirror",
    ),
    // What any proxy-wasm mirror pays for them: read into the VM and handed back.
    (
        "dispatch_floor_traced_vs_dispatch_floor",
        "dispatch_floor_traced",
        "dispatch_floor",
    ),
    (
        "mirror_traced_vs_mirror",
        "plugin_mirror_traced",
        "plugin_mirror",
    ),
    (
        "compare_vs_mirror_json",
        "plugin_compare",
        "plugin_mirror_json",
    ),
    (
        "compare_reordered_vs_mirror_json",
        "plugin_compare_reordered",
        "plugin_mirror_json",
    ),
    // The comparison apart from reading JSON: what is left of the 1.15 x for the reading.
    (
        "compare_same_bytes_vs_mirror_json",
        "plugin_compare_same_bytes",
        "plugin_mirror_json",
    ),
    ("plugin_vs_native", "plugin_mirror", "native_mirror"),
    (
        "plugin_body_vs_native_body",
        "plugin_mirror_body",
        "native_mirror_body",
    ),
    ("sampled_out_vs_empty", "plugin_sampled_out", "empty_filter"),
    ("sampled_out_vs_none", "plugin_sampled_out", "none"),
    (
        "dispatch_floor_vs_native",
        "dispatch_floor",
        "native_mirror",
    ),
    (
        "plugin_vs_dispatch_floor",
        "plugin_mirror",
        "dispatch_floor",
    ),
];

pub fn run(backend: &Backend, out: &Path) {
    let dir = tempfile::tempdir().expect("temp dir");
    let body = dir.path().join("body-16k");
    std::fs::write(&body, vec![b'b'; 16 * 1024]).expect("body file");
    // Our own channel to callgrind: a callgrind_control run elsewhere on the machine (another
    // worktree's profile) neither sees nor zeroes this Envoy.
    let vgdb_prefix = dir.path().join("vgdb-pipe");
    let mut counts = Map::new();
    let wanted = only_cases();
    for group in GROUPS {
        let group: Vec<&Case> = group
            .iter()
            .filter(|case| {
                wanted
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|name| name == case.name))
            })
            .collect();
        if group.is_empty() {
            continue;
        }
        let mut listeners: Vec<&str> = group.iter().map(|case| case.listener).collect();
        listeners.sort_unstable();
        listeners.dedup();
        println!("starting a front Envoy under callgrind with {listeners:?} (about a minute)");
        let launch = Launch {
            wrapper: vec![
                "valgrind".into(),
                "--tool=callgrind".into(),
                "--smc-check=all-non-file".into(),
                format!("--callgrind-out-file={}/callgrind.%p", dir.path().display()),
                format!("--vgdb-prefix={}", vgdb_prefix.display()),
            ],
            startup: Duration::from_secs(600),
        };
        let front = start_front(
            backend,
            listeners.iter().map(|l| front_listener(l)).collect(),
            1,
            &launch,
        );
        for case in group.iter() {
            h2load(&front, case, &body, WARM_UP_REQUESTS);
        }
        for case in group.iter() {
            callgrind_control("-z", front.pid(), &vgdb_prefix);
            let before = dumps(dir.path());
            h2load(&front, case, &body, REQUESTS);
            std::thread::sleep(Duration::from_secs(1)); // copies still on their way
            callgrind_control("-d", front.pid(), &vgdb_prefix);
            let per_request = total_since(dir.path(), &before) / u64::from(REQUESTS);
            keep_dumps(dir.path(), &before, case.name);
            println!(
                "  {:<20} {per_request:>8} instructions per request",
                case.name
            );
            counts.insert(case.name.into(), json!(per_request));
        }
    }
    let ratio = |a: &str, b: &str| Some(counts.get(a)?.as_f64()? / counts.get(b)?.as_f64()?);
    let ratios: Map<String, Value> = RATIOS
        .iter()
        .map(|(name, a, b)| {
            (
                name.to_string(),
                json!(ratio(a, b).map(|r| (r * 1000.0).round() / 1000.0)),
            )
        })
        .collect();
    println!("\ninstructions per request (callgrind), ratios:");
    for (name, value) in &ratios {
        println!("  {name:<30} {value}");
    }
    let report =
        json!({"instructions_per_request": counts, "ratios": ratios, "requests": REQUESTS});
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("output directory");
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&report).expect("json") + "\n",
    )
    .expect("write profile");
    println!("wrote {}", out.display());
}

/// `PROFILE_ONLY=a,b`: profile only these scenarios (a quicker look while working on one path;
/// the ratios whose two scenarios were not both run are left out as null).
fn only_cases() -> Option<Vec<String>> {
    let names = std::env::var("PROFILE_ONLY").ok()?;
    Some(
        names
            .split(',')
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect(),
    )
}

fn h2load(front: &Envoy, case: &Case, body: &Path, requests: u32) {
    let address = crate::setup::listener_address(front, case.listener);
    let mut command = Command::new("h2load");
    command.args(["--h1", "-c", "4", "-n", &requests.to_string()]);
    if case.post_16k {
        command.arg("-d").arg(body);
    }
    if case.traced {
        TRACE_HEADERS.iter().for_each(|header| {
            command.args(["-H", header]);
        });
    }
    let output = command
        .arg(format!("http://{address}/profile"))
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("{requests} succeeded")),
        "h2load: {text}"
    );
}

/// `PROFILE_KEEP=dir`: the case's callgrind dumps are copied there (`<case>.<n>`), so that
/// `callgrind_annotate` can show where its instructions went, function by function (Envoy's
/// and the VM's compiled code), after the profile's temp dir is gone.
fn keep_dumps(dir: &Path, before: &[PathBuf], case: &str) {
    let Some(keep) = std::env::var_os("PROFILE_KEEP").map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&keep).expect("PROFILE_KEEP directory");
    let new = dumps(dir).into_iter().filter(|path| !before.contains(path));
    for (index, path) in new.enumerate() {
        let kept = keep.join(format!("{case}.{index}"));
        std::fs::copy(&path, &kept).expect("copy a callgrind dump");
        println!("  kept {}", kept.display());
    }
}

/// Zeroes (`-z`) or dumps (`-d`) the counts of this run's Envoy only: without a pid and a
/// prefix of its own, callgrind_control acts on every callgrind process of the machine, so
/// two profiles run at once (another worktree's) zeroed and dumped each other's counts.
fn callgrind_control(action: &str, pid: u32, vgdb_prefix: &Path) {
    let status = Command::new("callgrind_control")
        .arg(format!("--vgdb-prefix={}", vgdb_prefix.display()))
        .arg(action)
        .arg(pid.to_string())
        .output()
        .expect("callgrind_control");
    assert!(status.status.success(), "callgrind_control {action} failed");
}

/// The callgrind dumps in `dir` (named callgrind.<pid>.<n>; the file without <n> is the
/// final one, written at exit).
fn dumps(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("callgrind dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().matches('.').count() == 2)
        .map(|entry| entry.path())
        .collect()
}

/// The instructions counted in the dumps written since `before`: ours, and any that a
/// callgrind_control without a pid (another worktree's profile) asked for in between, so
/// that its dump does not cut our count short.
fn total_since(dir: &Path, before: &[PathBuf]) -> u64 {
    let new: Vec<PathBuf> = dumps(dir)
        .into_iter()
        .filter(|path| !before.contains(path))
        .collect();
    assert!(!new.is_empty(), "no callgrind dump");
    new.iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("read dump");
            text.lines()
                .find_map(|line| line.strip_prefix("totals: ")?.trim().parse::<u64>().ok())
                .expect("totals line in callgrind dump")
        })
        .sum()
}
