//! `make run`: Envoy with the example config (envoy/envoy.yaml) between a client and two demo
//! backends. Sends a few requests, shows side by side what the primary and the mirror target
//! received, the plugin's counters, and the comparison of the canary's answers with the
//! primary's (the canary answers one request differently). Then a hundred more requests over
//! two endpoints and the verdict (traffic-mirror-verdict reading the demo Envoy's admin, built
//! by `make run` next to this binary): the canary's price differs on `GET /products`, and
//! `served_at`, which differs on every answer, the noise baseline too, passes as noise.
//! `--keep` leaves everything running.

use mirror_harness::{repo_root, Backend, Client, Envoy, Received, Reply, Request};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const PRIMARY: &str = "127.0.0.1:8081";
const MIRROR: &str = "127.0.0.1:8082";
const BASELINE: &str = "127.0.0.1:8083";
/// Requests per endpoint for the verdict: two endpoints, over its default minimum of 100.
const VERDICT_REQUESTS: usize = 60;
const COLUMN: usize = 58;

fn main() {
    let keep = std::env::args().any(|arg| arg == "--keep");
    // All answer in JSON, stamped with when they answered (`served_at` differs on every answer:
    // noise); the canary prices products differently, which the plugin's comparison
    // (envoy/envoy.yaml: `compare`) reports. The baseline runs the primary's version.
    let primary = backend(PRIMARY, |_| 10);
    let baseline = backend(BASELINE, |_| 10);
    let mirror = backend(MIRROR, |request| {
        match request.path.starts_with("/products") {
            true => 12,
            false => 10,
        }
    });
    let config = repo_root().join("envoy/envoy.yaml");
    println!("Starting Envoy with {} ...", config.display());
    let envoy = Envoy::start_file(&config, 2);
    println!(
        "Envoy listens on http://{}, admin on http://{}\n",
        envoy.listener(),
        envoy.admin()
    );

    let requests = [
        Request::get("/products?page=2")
            .authority("shop.example")
            .header("x-user-id", "u-42"),
        Request::post("/orders", r#"{"item": "book", "qty": 1}"#)
            .authority("shop.example")
            .header("content-type", "application/json")
            .header("authorization", "Bearer live-token")
            .header("cookie", "session=abc123"),
        Request::get("/health")
            .authority("shop.example")
            .header("x-traffic-mirror", "someone-else"),
    ];
    let mut client = Client::http1(envoy.listener());
    for request in &requests {
        let response = client.send(request.clone());
        println!(
            "{} {} -> {} in {:?}",
            request.method, request.path, response.status, response.elapsed
        );
    }
    let copies = mirror.wait_for(2, Duration::from_secs(10));
    let originals = primary.wait_for(requests.len(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));

    for original in &originals {
        let copy = copies.iter().find(|c| c.path == original.path);
        show(original, copy);
    }
    println!("\nCounters (admin /stats?filter=traffic_mirror):");
    for (name, value) in envoy.plugin_stats() {
        println!("  {name}: {value}");
    }
    println!(
        "\nShadow verification: the canary's answers compared with the primary's (Envoy's log):"
    );
    let log = envoy.log();
    let mismatches = log.lines().filter(|line| line.contains("compare_mismatch"));
    for line in mismatches {
        println!(
            "  {}",
            line.split("traffic-mirror: ").last().unwrap_or(line)
        );
    }
    verdict(&envoy, &baseline);
    if keep {
        println!(
            "\nLeft running (--keep): curl http://{}/ ; Ctrl-C stops everything.",
            envoy.listener()
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// More traffic over two endpoints, then the verdict on the canary, as
/// `traffic-mirror-verdict --envoy ADMIN --target canary` prints it.
fn verdict(envoy: &Envoy, baseline: &Backend) {
    println!(
        "\nThe verdict: {VERDICT_REQUESTS} more requests to each of GET /products and GET /reviews, \
         then traffic-mirror-verdict --envoy http://{} --target canary:\n",
        envoy.admin()
    );
    let mut client = Client::http1(envoy.listener());
    for i in 0..VERDICT_REQUESTS {
        for path in ["/products", "/reviews"] {
            client.send(Request::get(&format!("{path}?page={i}")).authority("shop.example"));
        }
    }
    // Every comparison needs the baseline's answer: wait for its copies, then the comparisons.
    baseline.wait_for(2 * VERDICT_REQUESTS, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let command = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("traffic-mirror-verdict")))
        .filter(|path| path.exists());
    let Some(command) = command else {
        println!("  (no traffic-mirror-verdict next to this demo: `make run` builds it)");
        return;
    };
    let admin = format!("http://{}", envoy.admin());
    let status = Command::new(command)
        .args(["--envoy", &admin, "--target", "canary"])
        .status();
    if let Err(error) = status {
        println!("  cannot run traffic-mirror-verdict: {error}");
    }
}

fn backend(addr: &str, price: fn(&Received) -> u32) -> Backend {
    let addr: SocketAddr = addr.parse().expect("address");
    let reply = move |request: &Received| {
        let body = format!(
            r#"{{"product":"book","price":{},"currency":"EUR","served_at":"{:?}"}}"#,
            price(request),
            request.at
        );
        Reply::json(200, &body)
    };
    Backend::bind_replying(addr, reply).unwrap_or_else(|error| {
        eprintln!("cannot listen on {addr} ({error}); stop what uses it (an earlier `make run ARGS=--keep`?)");
        std::process::exit(1);
    })
}

/// One row per header name, so a header the copy lacks (or adds) stands out.
fn show(original: &Received, copy: Option<&Received>) {
    println!(
        "\n{:=<1$}",
        format!("== {} {} ", original.method, original.path),
        COLUMN * 2 + 3
    );
    row(
        "PRIMARY received (the original)",
        "MIRROR received (the copy)",
    );
    row(&"-".repeat(COLUMN), &"-".repeat(COLUMN));
    let request_line = |r: &Received| format!("{} {}", r.method, r.path);
    row(
        &request_line(original),
        &copy.map_or("(not copied: see the counters)".into(), request_line),
    );
    let mut names: Vec<&str> = original.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.extend(
        copy.iter()
            .flat_map(|c| c.headers.iter().map(|(n, _)| n.as_str())),
    );
    names.sort_unstable();
    names.dedup();
    let header = |r: &Received, name: &str| {
        r.header_bytes(name).map_or(String::new(), |v| {
            format!("{name}: {}", String::from_utf8_lossy(v))
        })
    };
    for name in names {
        row(
            &header(original, name),
            &copy.map_or(String::new(), |c| header(c, name)),
        );
    }
    let body = |r: &Received| format!("body: {}", String::from_utf8_lossy(&r.body));
    if !original.body.is_empty() {
        row(&body(original), &copy.map_or(String::new(), body));
    }
}

fn row(left: &str, right: &str) {
    let clip = |text: &str| -> String {
        if text.chars().count() <= COLUMN {
            text.to_string()
        } else {
            text.chars().take(COLUMN - 3).chain("...".chars()).collect()
        }
    };
    println!("{:<width$} | {}", clip(left), clip(right), width = COLUMN);
}
