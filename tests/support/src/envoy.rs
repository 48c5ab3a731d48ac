use crate::bootstrap::{
    bootstrap, cluster, ecds_filter, ecds_response, http_listener, node, plugin_filter, to_cluster,
};
use crate::paths::envoy_binary;
use crate::{eventually, Client, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

const STARTUP: Duration = Duration::from_secs(30);

/// How Envoy is started: directly, or under a wrapper such as valgrind (which needs far more
/// time to start).
#[derive(Debug, Clone)]
pub struct Launch {
    pub wrapper: Vec<String>,
    pub startup: Duration,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            wrapper: Vec::new(),
            startup: STARTUP,
        }
    }
}

/// The plugin configuration and the clusters an Envoy under test runs with.
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    plugin_config: String,
    primary: Option<SocketAddr>,
    clusters: Vec<(String, SocketAddr)>,
    concurrency: u32,
    http2_upstreams: bool,
    from_ecds: bool,
    raw_clusters: Vec<Value>,
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

    /// Adds a cluster given whole (as Envoy JSON), e.g. one that speaks TLS.
    pub fn raw_cluster(mut self, cluster: Value) -> Self {
        self.raw_clusters.push(cluster);
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

    /// Deliver the plugin by extension config discovery (ECDS) from a watched file, as istiod
    /// does over xDS; [`Envoy::update_plugin_config`] then changes it while Envoy runs.
    pub fn from_ecds(mut self) -> Self {
        self.from_ecds = true;
        self
    }

    /// A bootstrap with one HTTP listener whose filter chain is the plugin and the router,
    /// sending originals to cluster `primary`.
    pub fn bootstrap(&self) -> Value {
        self.bootstrap_in(Path::new("."))
    }

    fn bootstrap_in(&self, dir: &Path) -> Value {
        let primary = self.primary.unwrap_or_else(crate::closed_port);
        let http2 = self.http2_upstreams;
        let mut clusters = vec![cluster("primary", primary, http2)];
        clusters.extend(
            self.clusters
                .iter()
                .map(|(name, addr)| cluster(name, *addr, http2)),
        );
        clusters.extend(self.raw_clusters.iter().cloned());
        let filters = if self.from_ecds {
            vec![ecds_filter(PLUGIN_NAME, &dir.join(ECDS_FILE))]
        } else {
            vec![plugin_filter(&self.plugin_config)]
        };
        let mut bootstrap = bootstrap(
            vec![http_listener("front", to_cluster("primary"), filters)],
            clusters,
        );
        if self.from_ecds {
            bootstrap["node"] = node();
        }
        bootstrap
    }

    pub fn start(&self) -> Envoy {
        let dir = tempfile::tempdir().expect("temp dir");
        if self.from_ecds {
            write_ecds(dir.path(), &self.plugin_config, 1);
        }
        let mut envoy = start_bootstrap(&self.bootstrap_in(dir.path()), self.concurrency, dir);
        envoy.ecds_version = self.from_ecds.then_some(1);
        envoy
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

/// Writes `bootstrap` into `dir` and starts Envoy on it.
pub fn start_bootstrap(bootstrap: &Value, concurrency: u32, dir: TempDir) -> Envoy {
    start_bootstrap_with(bootstrap, concurrency, dir, &Launch::default())
}

/// Like [`start_bootstrap`], started as `launch` says.
pub fn start_bootstrap_with(
    bootstrap: &Value,
    concurrency: u32,
    dir: TempDir,
    launch: &Launch,
) -> Envoy {
    let config = write_bootstrap(dir.path(), bootstrap);
    Envoy::launch(&config, concurrency, dir, launch)
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
    /// The version of the plugin's ECDS resource, when it is delivered that way.
    ecds_version: Option<u64>,
    dir: TempDir,
}

const PLUGIN_NAME: &str = "traffic-mirror";
const ECDS_FILE: &str = "plugin-ecds.json";

/// Writes the plugin's ECDS resource (a discovery response) atomically: Envoy watches the file
/// and must never read it half written.
fn write_ecds(dir: &Path, plugin_config: &str, version: u64) {
    let response = ecds_response(PLUGIN_NAME, &plugin_filter(plugin_config), version);
    let partial = dir.join(format!("{ECDS_FILE}.partial"));
    std::fs::write(
        &partial,
        serde_json::to_vec_pretty(&response).expect("json"),
    )
    .expect("write ecds");
    std::fs::rename(&partial, dir.join(ECDS_FILE)).expect("replace ecds");
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
            from_ecds: false,
            raw_clusters: Vec::new(),
        }
    }

    /// Starts Envoy on a config file, from the repository root (relative paths in the file,
    /// such as the wasm's, resolve from there).
    pub fn start_file(config: &Path, concurrency: u32) -> Envoy {
        let dir = tempfile::tempdir().expect("temp dir");
        Envoy::launch(config, concurrency, dir, &Launch::default())
    }

    fn launch(config: &Path, concurrency: u32, dir: TempDir, launch: &Launch) -> Envoy {
        let admin_path = dir.path().join("admin-address");
        let log_path = dir.path().join("envoy.log");
        let mut command = match launch.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(envoy_binary());
                command
            }
            None => Command::new(envoy_binary()),
        };
        let child = command
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
        let unbound = crate::bootstrap::any_port();
        let mut envoy = Envoy {
            child,
            admin: unbound,
            listener: unbound,
            log_path,
            ecds_version: None,
            dir,
        };
        envoy.admin = envoy.wait_for_admin(&admin_path, launch.startup);
        envoy.listener = envoy.wait_until_ready(launch.startup);
        envoy
    }

    /// The first listener's address (test bootstraps have only one).
    pub fn listener(&self) -> SocketAddr {
        self.listener
    }

    /// Every listener's address, by listener name.
    pub fn listeners(&self) -> BTreeMap<String, SocketAddr> {
        let listeners: Value = serde_json::from_str(&self.admin_get("/listeners?format=json"))
            .expect("listeners json");
        let statuses = listeners["listener_statuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        statuses
            .iter()
            .filter_map(|status| {
                let port = status["local_address"]["socket_address"]["port_value"].as_u64()?;
                let name = status["name"].as_str()?.to_string();
                Some((
                    name,
                    SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).ok()?)),
                ))
            })
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Delivers a new plugin configuration over ECDS (see [`EnvoyBuilder::from_ecds`]) and
    /// waits until Envoy has processed it. Envoy counts an update whose plugin then refuses
    /// its configuration as taken too (and keeps the previous filter): returns whether Envoy
    /// counted it as taken; the log says whether the plugin accepted it.
    pub fn update_plugin_config(&mut self, plugin_config: impl ToString) -> bool {
        let version = self
            .ecds_version
            .expect("the plugin is not delivered by ECDS")
            + 1;
        let stat = |name: &str| -> u64 {
            let full = format!("extension_config_discovery.http_filter.{PLUGIN_NAME}.{name}");
            let text = self.admin_get(&format!("/stats?filter={full}"));
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(&full)?
                        .strip_prefix(": ")?
                        .trim()
                        .parse()
                        .ok()
                })
                .unwrap_or(0)
        };
        let (reloads, failures) = (stat("config_reload"), stat("config_fail"));
        write_ecds(self.dir.path(), &plugin_config.to_string(), version);
        let taken = eventually("Envoy to take or reject the ECDS update", STARTUP, || {
            if stat("config_reload") > reloads {
                Some(true)
            } else {
                (stat("config_fail") > failures).then_some(false)
            }
        });
        self.ecds_version = Some(version);
        taken
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

    /// The `/stats` line of one plugin metric (`wasmcustom.traffic_mirror.<target>.<metric>`),
    /// whatever its kind: histograms read e.g. "P0(1,1) P25(...) ...".
    pub fn metric_line(&self, target: &str, metric: &str) -> Option<String> {
        let name = format!("wasmcustom.traffic_mirror.{target}.{metric}");
        let stats = self.admin_get(&format!("/stats?filter={}", name.replace('|', "%7C")));
        stats
            .lines()
            .find_map(|line| Some(line.strip_prefix(&name)?.strip_prefix(": ")?.to_string()))
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

    fn wait_for_admin(&mut self, admin_path: &Path, startup: Duration) -> SocketAddr {
        eventually("Envoy's admin address", startup, || {
            self.fail_if_exited();
            std::fs::read_to_string(admin_path)
                .ok()?
                .trim()
                .parse()
                .ok()
        })
    }

    fn wait_until_ready(&mut self, startup: Duration) -> SocketAddr {
        eventually("Envoy /ready", startup, || {
            self.fail_if_exited();
            (self.admin_get("/ready").trim() == "LIVE").then_some(())
        });
        // BTreeMap order is by name; test bootstraps have a single listener anyway.
        *self
            .listeners()
            .values()
            .next()
            .expect("Envoy has no listener")
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
