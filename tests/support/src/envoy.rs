use crate::paths::{envoy_binary, wasm_path};
use crate::{eventually, Client, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

const STARTUP: Duration = Duration::from_secs(30);

/// The plugin configuration and the clusters an Envoy under test runs with.
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    plugin_config: String,
    primary: Option<SocketAddr>,
    clusters: Vec<(String, SocketAddr)>,
    concurrency: u32,
    http2_upstreams: bool,
}

impl EnvoyBuilder {
    /// Speak HTTP/2 to every cluster (HTTP/1.1 upstreams drop request trailers).
    pub fn http2_upstreams(mut self) -> Self {
        self.http2_upstreams = true;
        self
    }

    /// Adds a cluster copies can be sent to.
    pub fn cluster(mut self, name: &str, addr: SocketAddr) -> Self {
        self.clusters.push((name.into(), addr));
        self
    }

    /// Where originals go (cluster `primary`).
    pub fn primary(mut self, addr: SocketAddr) -> Self {
        self.primary = Some(addr);
        self
    }

    pub fn concurrency(mut self, workers: u32) -> Self {
        self.concurrency = workers;
        self
    }

    /// A bootstrap with one HTTP listener (HTTP/1.1 and HTTP/2 cleartext) whose filter chain is
    /// the plugin and the router, on ephemeral loopback ports.
    pub fn bootstrap(&self) -> Value {
        let primary = self.primary.unwrap_or_else(crate::closed_port);
        let http2 = self.http2_upstreams;
        let mut clusters = vec![cluster("primary", primary, http2)];
        clusters.extend(
            self.clusters
                .iter()
                .map(|(name, addr)| cluster(name, *addr, http2)),
        );
        json!({
            "admin": {"address": socket("127.0.0.1:0".parse().expect("address"))},
            "static_resources": {
                "listeners": [{
                    "name": "front",
                    "address": socket("127.0.0.1:0".parse().expect("address")),
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "front",
                            "codec_type": "AUTO",
                            "route_config": {"virtual_hosts": [{
                                "name": "all",
                                "domains": ["*"],
                                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "primary", "timeout": "30s"}}]
                            }]},
                            "http_filters": [
                                plugin_filter(&self.plugin_config, &wasm_path()),
                                {"name": "envoy.filters.http.router", "typed_config": {
                                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
                            ]
                        }
                    }]}]
                }],
                "clusters": clusters
            }
        })
    }

    pub fn start(&self) -> Envoy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_bootstrap(dir.path(), &self.bootstrap());
        Envoy::launch(&config, self.concurrency, dir)
    }

    /// Runs Envoy's `--mode validate` (which also configures the plugin) on this bootstrap.
    /// `Ok` with Envoy's output when it accepts the configuration, `Err` with it otherwise.
    pub fn validate(&self) -> Result<String, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        validate_file(&write_bootstrap(dir.path(), &self.bootstrap()))
    }

    /// Starts Envoy and expects it to refuse the configuration and exit; returns its log.
    pub fn start_expecting_rejection(&self) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_bootstrap(dir.path(), &self.bootstrap());
        let output = Command::new(envoy_binary())
            .arg("-c")
            .arg(&config)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "-l",
                "warning",
            ])
            .output()
            .expect("run envoy");
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "Envoy accepted the configuration:\n{log}"
        );
        log
    }
}

/// Runs `envoy --mode validate` on a config file.
pub fn validate_file(config: &Path) -> Result<String, String> {
    let output = Command::new(envoy_binary())
        .arg("-c")
        .arg(config)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "-l",
            "warning",
        ])
        .current_dir(crate::repo_root())
        .output()
        .expect("run envoy --mode validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn plugin_filter(plugin_config: &str, wasm: &Path) -> Value {
    json!({
        "name": "traffic-mirror",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "traffic-mirror",
                "root_id": "traffic-mirror",
                "failure_policy": "FAIL_OPEN",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": plugin_config},
                "vm_config": {
                    "vm_id": "traffic-mirror",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm}}
                }
            }
        }
    })
}

fn cluster(name: &str, addr: SocketAddr, http2: bool) -> Value {
    let mut cluster = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(addr)}}]}]}
    });
    if http2 {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    cluster
}

fn socket(addr: SocketAddr) -> Value {
    json!({"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}})
}

fn write_bootstrap(dir: &Path, bootstrap: &Value) -> PathBuf {
    let path = dir.join("envoy.json");
    std::fs::write(&path, serde_json::to_vec_pretty(bootstrap).expect("json"))
        .expect("write config");
    path
}

fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("envoy log")
        .into()
}

/// A running Envoy; killed when dropped.
pub struct Envoy {
    child: Child,
    admin: SocketAddr,
    listener: SocketAddr,
    log_path: PathBuf,
    _dir: TempDir,
}

impl Envoy {
    /// An Envoy for `plugin_config` (JSON text, sent as is: it may be invalid on purpose).
    pub fn builder(plugin_config: impl ToString) -> EnvoyBuilder {
        EnvoyBuilder {
            plugin_config: plugin_config.to_string(),
            primary: None,
            clusters: Vec::new(),
            concurrency: 1,
            http2_upstreams: false,
        }
    }

    /// Starts Envoy on a config file, from the repository root (relative paths in the file,
    /// such as the wasm's, resolve from there).
    pub fn start_file(config: &Path, concurrency: u32) -> Envoy {
        Envoy::launch(config, concurrency, tempfile::tempdir().expect("temp dir"))
    }

    fn launch(config: &Path, concurrency: u32, dir: TempDir) -> Envoy {
        let admin_path = dir.path().join("admin-address");
        let log_path = dir.path().join("envoy.log");
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(config)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                &concurrency.to_string(),
            ])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args([
                "-l",
                "info",
                "--file-flush-interval-msec",
                "100",
                "--log-path",
            ])
            .arg(&log_path)
            .current_dir(crate::repo_root())
            .stdin(Stdio::null())
            // What Envoy prints before its logger is up (e.g. a fatal config error) goes here.
            .stdout(log_file(&log_path))
            .stderr(log_file(&log_path))
            .spawn()
            .expect("start envoy");
        let unbound: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let mut envoy = Envoy {
            child,
            admin: unbound,
            listener: unbound,
            log_path,
            _dir: dir,
        };
        envoy.admin = envoy.wait_for_admin(&admin_path);
        envoy.listener = envoy.wait_until_ready();
        envoy
    }

    pub fn listener(&self) -> SocketAddr {
        self.listener
    }

    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// GET on the admin interface; the body.
    pub fn admin_get(&self, path: &str) -> String {
        let response = Client::http1(self.admin).send(Request::get(path));
        String::from_utf8_lossy(&response.body).into_owned()
    }

    /// Every counter and gauge of the plugin, by full stat name.
    pub fn plugin_stats(&self) -> BTreeMap<String, u64> {
        self.admin_get("/stats?filter=%5Ewasmcustom%5C.")
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                Some((name.to_string(), value.trim().parse().ok()?))
            })
            .collect()
    }

    /// `wasmcustom.traffic_mirror.<target>.<counter>`, 0 when absent.
    pub fn counter(&self, target: &str, counter: &str) -> u64 {
        let name = format!("wasmcustom.traffic_mirror.{target}.{counter}");
        self.plugin_stats().get(&name).copied().unwrap_or(0)
    }

    /// Waits until the counter reaches `expected`; panics (with every plugin stat) if it
    /// does not within `timeout`, or if it goes past it.
    pub fn wait_for_counter(&self, target: &str, counter: &str, expected: u64, timeout: Duration) {
        let what = format!("{target}.{counter} == {expected}");
        let reached = eventually(&what, timeout, || {
            let value = self.counter(target, counter);
            (value >= expected).then_some(value)
        });
        assert_eq!(
            reached,
            expected,
            "{target}.{counter} overshot; stats: {:#?}",
            self.plugin_stats()
        );
    }

    fn wait_for_admin(&mut self, admin_path: &Path) -> SocketAddr {
        eventually("Envoy's admin address", STARTUP, || {
            self.fail_if_exited();
            std::fs::read_to_string(admin_path)
                .ok()?
                .trim()
                .parse()
                .ok()
        })
    }

    fn wait_until_ready(&mut self) -> SocketAddr {
        eventually("Envoy /ready", STARTUP, || {
            self.fail_if_exited();
            (self.admin_get("/ready").trim() == "LIVE").then_some(())
        });
        let listeners: Value = serde_json::from_str(&self.admin_get("/listeners?format=json"))
            .expect("listeners json");
        let address = &listeners["listener_statuses"][0]["local_address"]["socket_address"];
        let port = address["port_value"].as_u64().expect("listener port");
        SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).expect("port")))
    }

    fn fail_if_exited(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("Envoy exited ({status}):\n{}", self.log());
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test failed: Envoy's side of the story usually says why.
            std::thread::sleep(Duration::from_millis(200)); // the log is flushed every 100 ms
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("--- last lines of Envoy's log ---\n{}", tail.join("\n"));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
