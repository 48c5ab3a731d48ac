//! `mirror-bench --calibrate-slices FILE`: what a unit of `make callback-cost`'s fuel is in
//! machine instructions of Envoy's V8. The same work is counted both ways: a POST of the JSON
//! body in FILE, copied with `**.password` redacted in slices (the configuration in
//! FILE.config.json), less the same request to a path that is not copied. Here callgrind
//! counts the front Envoy's instructions; `callback-cost WASM --calibrate FILE` counts the
//! fuel (both files are written by `callback-cost WASM --write-calibration FILE`).

use mirror_harness::{start_bootstrap_with, Backend, Client, Envoy, Launch, Request};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The instructions callgrind counts in `envoy` while `work` runs: counts zeroed before, dumped
/// after, through this Envoy's own vgdb pipe (so another worktree's profile is not touched).
pub fn instructions(envoy: &Envoy, callgrind: &Path, work: impl FnOnce()) -> u64 {
    let control = |action: &str| {
        let done = Command::new("callgrind_control")
            .arg(format!("--vgdb-prefix={}/vgdb", callgrind.display()))
            .arg(action)
            .arg(envoy.pid().to_string())
            .output()
            .expect("callgrind_control");
        assert!(done.status.success(), "callgrind_control {action}");
    };
    let dumps = || -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(callgrind)
            .expect("callgrind dir")
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| path.to_string_lossy().contains("callgrind.out."))
            .collect();
        found.sort();
        found
    };
    control("-z");
    let earlier = dumps();
    work();
    std::thread::sleep(Duration::from_secs(2)); // the last ticks and the copy's answer
    control("-d");
    dumps()
        .iter()
        .filter(|path| !earlier.contains(path))
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let totals = text.lines().find_map(|l| l.strip_prefix("totals: "))?;
            totals.trim().parse::<u64>().ok()
        })
        .sum()
}

pub fn run(file: &Path) {
    let body = std::fs::read(file).expect("the calibration body");
    let config_file = format!("{}.config.json", file.display());
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(config_file).expect("its configuration"))
            .expect("a JSON configuration");
    let primary = Backend::start();
    let mirror = Backend::start();
    let builder = Envoy::builder(config)
        .primary(primary.addr())
        .cluster("mirror", mirror.addr());
    let dir = tempfile::tempdir().expect("temp dir");
    let callgrind = dir.path().join("callgrind");
    std::fs::create_dir(&callgrind).expect("callgrind dir");
    let launch = callgrind_launch(&callgrind);
    println!("starting Envoy under callgrind (about a minute)");
    let envoy = start_bootstrap_with(&builder.bootstrap(), 1, dir, &launch);
    let send = |path: &str| {
        let request = Request::post(path, body.clone()).header("content-type", "application/json");
        assert_eq!(Client::http1(envoy.listener()).send(request).status, 200);
    };
    // Warm-up: V8 compiles the module's functions on their first calls.
    send("/upload");
    mirror.wait_for(1, Duration::from_secs(600));
    send("/elsewhere");
    let copied = instructions(&envoy, &callgrind, || {
        send("/upload");
        mirror.wait_for(2, Duration::from_secs(600));
    });
    let not_copied = instructions(&envoy, &callgrind, || send("/elsewhere"));
    println!(
        "calibration: {} bytes; copied {copied} instructions, not copied {not_copied}; \
         the copy's work {} instructions",
        body.len(),
        copied.saturating_sub(not_copied)
    );
}

/// Envoy under callgrind, its dumps (`callgrind.out.<pid>`) and its own vgdb channel in
/// `callgrind`: a `callgrind_control` run elsewhere on the machine neither sees nor zeroes it.
pub fn callgrind_launch(callgrind: &std::path::Path) -> Launch {
    Launch {
        wrapper: vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            "--smc-check=all-non-file".into(),
            format!(
                "--callgrind-out-file={}/callgrind.out.%p",
                callgrind.display()
            ),
            format!("--vgdb-prefix={}/vgdb", callgrind.display()),
        ],
        startup: Duration::from_secs(600),
    }
}
