//! A real Istio control plane delivers the plugin (`make istio-e2e`; docs/istio.md: Istio, end to
//! end). istiod reads Istio resources from a folder this test writes (its Kubernetes client
//! talks to an empty API server), istio-agent + Envoy run as user-service v1's sidecar and as a
//! caller's sidecar, and the plugin comes from `make oci`'s image, pushed to a registry on
//! loopback. v1's pod annotations (envoy/istio/proxy-stats.yaml) reach its agent the way the
//! downward API hands them to it in a pod: in the file `etc/istio/pod/annotations` under the
//! agent's working directory. Listeners come from Sidecar resources (no iptables); no mTLS.
//! Every address is on loopback, and every port is picked free except user-service's 8080,
//! which the sidecars bind on addresses of this run's own: runs do not collide.
//!
//! Ignored by `make integration`: it needs Istio's binaries, which `make istio-e2e` builds and
//! hands over in ISTIO_BIN_DIR (with ISTIO_SRC, the Istio module, for its bootstrap template).

use mirror_harness::{eventually, repo_root, tempfile, Backend, Client, Received, Reply, Request};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// istiod's push and the agent's fetch take seconds, not milliseconds.
const WAIT: Duration = Duration::from_secs(60);
const SERVICE: &str = "user-service.default.svc.cluster.local";
const CANARY_CLUSTER: &str = "outbound|8080|canary|user-service.default.svc.cluster.local";
const OCI_TAG: &str = "0.1.0";

// ---------------------------------------------------------------------------------------------
// Processes, ports, plain HTTP probes

/// A process the test started, in a process group of its own (the agent starts Envoy: both go
/// when the group is killed). Its output goes to a log file, whose tail is printed when the
/// test fails.
struct Running {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(name: &'static str, mut command: Command, log: PathBuf) -> Running {
        let file = std::fs::File::create(&log).expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Running { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}):\n{}",
                self.name,
                tail(&self.log(), 60)
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- last lines of {} ({}) ---\n{}",
                self.name,
                self.log.display(),
                tail(&self.log(), 40)
            );
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The workloads' addresses: 127.<a>.<b>.0/24, different for each run. Each workload needs an
/// address of its own (istiod tells workloads apart by address), and the sidecars' egress
/// listeners bind user-service's port 8080 on it (istiod gives an egress listener only the
/// services whose port is the listener's), so two runs must not share them.
fn run_subnet() -> String {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().rotate_left(16);
    format!("127.{}.{}", 1 + seed % 254, (seed >> 8) % 256)
}

/// A port nobody listens on at `ip` right now.
fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// GET over a fresh connection: the status and body, or None if nothing answers yet.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12)?.parse().ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((
        status,
        if chunked {
            unchunk(body)?
        } else {
            body.to_string()
        },
    ))
}

/// The body of a chunked HTTP/1.1 response (sizes in hex, each chunk followed by CRLF).
fn unchunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(name)
            .unwrap_or_else(|| panic!("{name} is not set: run this test with `make istio-e2e`")),
    )
}

/// `template` with every `{{KEY}}` replaced; a placeholder left over is a bug in the test.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_string();
    for (key, value) in values {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(!text.contains("{{"), "unfilled placeholder in:\n{text}");
    text
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn template(name: &str) -> String {
    read(repo_root().join("tests/istio-e2e").join(name))
}

// ---------------------------------------------------------------------------------------------
// The cast: registry, istiod, sidecars

/// Debian's docker-registry on loopback, holding `make oci`'s image (pushed with skopeo).
struct Registry {
    process: Running,
    port: u16,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = free_port("127.0.0.1");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("registry-data").display()
            ),
        )
        .expect("registry config");
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config);
        let mut process = Running::start("docker-registry", command, dir.join("registry.log"));
        eventually("the registry's /v2/", WAIT, || {
            process.assert_running();
            http_get(local(port), "/v2/").filter(|(status, _)| *status == 200)
        });
        Registry { process, port }
    }

    /// Pushes `make oci`'s image; its URL for a WasmPlugin or TrafficExtension.
    fn push_plugin(&self) -> String {
        let layout = repo_root().join("target/oci/traffic-mirror");
        let reference = format!("127.0.0.1:{}/traffic-mirror:{OCI_TAG}", self.port);
        let output = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{OCI_TAG}", layout.display()))
            .arg(format!("docker://{reference}"))
            .output()
            .expect("run skopeo (make oci-tools)");
        assert!(
            output.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        format!("oci://{reference}")
    }

    /// The image layers istio-agent (go-containerregistry) pulled, by the registry's log.
    fn layers_pulled_by_agent(&self) -> usize {
        self.process
            .log()
            .lines()
            .filter(|line| line.contains("GET /v2/traffic-mirror/blobs/sha256:"))
            .filter(|line| line.contains("\" 200 ") && line.contains("go-containerregistry"))
            .count()
    }
}

/// The digest `make oci` printed, without `sha256:` (as a manifest's `sha256` wants it).
fn printed_digest() -> String {
    let digest = read(repo_root().join("target/oci/digest"));
    digest
        .trim()
        .strip_prefix("sha256:")
        .expect("target/oci/digest starts with sha256:")
        .to_string()
}

/// `pilot-discovery discovery` with the service-entry registry only and Istio resources read
/// (and watched) from `config_dir`; plaintext XDS, no CA, no webhook. Its Kubernetes client
/// talks to an empty API server (tests/istio-e2e/empty_apiserver.py): without a client, istiod
/// of these versions panics at start.
struct Istiod {
    process: Running,
    _apiserver: Running,
    grpc: u16,
}

impl Istiod {
    fn start(dir: &Path, config_dir: &Path) -> Istiod {
        let apiserver = start_empty_apiserver(dir);
        let grpc = free_port("127.0.0.1");
        let http = free_port("127.0.0.1");
        let mesh = dir.join("mesh.yaml");
        let values = [
            ("ISTIOD_GRPC", grpc.to_string()),
            ("CONFIG_DIR", config_dir.display().to_string()),
        ];
        std::fs::write(&mesh, fill(&template("mesh.yaml"), &values)).expect("mesh config");
        let mut command = Command::new(env_path("ISTIO_BIN_DIR").join("pilot-discovery"));
        command
            .current_dir(dir)
            .arg("discovery")
            .arg("--registries=")
            .arg(format!("--kubeconfig={}", apiserver.1.display()))
            .arg(format!("--meshConfig={}", mesh.display()))
            .arg(format!(
                "--networksConfig={}",
                dir.join("meshNetworks").display()
            ))
            .arg(format!("--grpcAddr=127.0.0.1:{grpc}"))
            .arg("--secureGRPCAddr=")
            .arg(format!("--httpAddr=127.0.0.1:{http}"))
            .arg("--httpsAddr=")
            .arg("--monitoringAddr=")
            .arg(format!("--ctrlz_port={}", free_port("127.0.0.1")))
            .arg("--ctrlz_address=127.0.0.1")
            .arg("--clusterID=Kubernetes")
            .envs([
                ("ENABLE_CA_SERVER", "false"),
                // What a stock Envoy lacks (Istio's proxy builds add these filters).
                ("PILOT_ENABLE_ALPN_FILTER", "false"),
                ("PILOT_ENABLE_METADATA_EXCHANGE", "false"),
            ]);
        let mut process = Running::start("istiod", command, dir.join("istiod.log"));
        eventually("istiod /ready", WAIT, || {
            process.assert_running();
            http_get(local(http), "/ready").filter(|(status, _)| *status == 200)
        });
        Istiod {
            process,
            _apiserver: apiserver.0,
            grpc,
        }
    }
}

/// The empty API server, and a kubeconfig that points at it.
fn start_empty_apiserver(dir: &Path) -> (Running, PathBuf) {
    let port = free_port("127.0.0.1");
    let kubeconfig = dir.join("kubeconfig.yaml");
    let text = fill(
        &template("kubeconfig.yaml"),
        &[("APISERVER_PORT", port.to_string())],
    );
    std::fs::write(&kubeconfig, text).expect("kubeconfig");
    let mut command = Command::new("python3");
    command
        .arg(repo_root().join("tests/istio-e2e/empty_apiserver.py"))
        .arg(port.to_string());
    let mut process = Running::start("empty API server", command, dir.join("apiserver.log"));
    eventually("the empty API server", WAIT, || {
        process.assert_running();
        http_get(local(port), "/version").filter(|(status, _)| *status == 200)
    });
    (process, kubeconfig)
}

/// One workload's sidecar: `pilot-agent proxy sidecar` running our Envoy, outside Kubernetes.
struct Sidecar {
    agent: Running,
    admin: u16,
    status: u16,
}

struct Workload<'a> {
    name: &'static str,
    ip: &'a str,
    labels: &'a str,
    /// The pod's annotations, as `kubectl patch` with envoy/istio/proxy-stats.yaml leaves them.
    annotations: &'a [(String, String)],
}

impl Sidecar {
    fn start(root: &Path, workload: &Workload, istiod: &Istiod, registry: &Registry) -> Sidecar {
        let dir = root.join(workload.name);
        std::fs::create_dir_all(&dir).expect("sidecar dir");
        // Istio's own bootstrap template, from the Istio module this build comes from.
        let template_file = dir.join("envoy_bootstrap.json");
        std::fs::copy(
            env_path("ISTIO_SRC").join("tools/packaging/common/envoy_bootstrap.json"),
            &template_file,
        )
        .expect("copy Istio's bootstrap template");
        let (admin, status) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
        let proxy_config = fill(
            &template("proxy-config.yaml"),
            &[
                ("ISTIOD_GRPC", istiod.grpc.to_string()),
                (
                    "ENVOY",
                    mirror_harness::envoy_binary().display().to_string(),
                ),
                ("DIR", dir.display().to_string()),
                ("ADMIN_PORT", admin.to_string()),
                ("STATUS_PORT", status.to_string()),
            ],
        );
        write_pod_annotations(&dir, workload.annotations);
        let mut command = Command::new(env_path("ISTIO_BIN_DIR").join("pilot-agent"));
        command
            .current_dir(&dir)
            .args(["proxy", "sidecar", "--domain", "default.svc.cluster.local"])
            .arg(format!("--templateFile={}", template_file.display()))
            .arg("--proxyLogLevel=warning")
            .arg(format!(
                "--proxyComponentLogLevel={}",
                component_log_level(workload.annotations)
            ))
            .env_remove("KUBECONFIG")
            .envs([
                // Without it the agent probes cloud metadata addresses off this machine.
                ("CLOUD_PLATFORM", "none"),
                ("PROXY_CONFIG", proxy_config.as_str()),
                ("POD_NAME", workload.name),
                ("POD_NAMESPACE", "default"),
                ("INSTANCE_IP", workload.ip),
                // No iptables: no virtual listeners on 15001/15006, only the Sidecar's.
                ("ISTIO_META_INTERCEPTION_MODE", "NONE"),
                ("SERVICE_ACCOUNT", "default"),
                ("ISTIO_META_CLUSTER_ID", "Kubernetes"),
                ("ISTIO_META_WORKLOAD_NAME", workload.name),
                ("ISTIO_METAJSON_LABELS", workload.labels),
                ("FILE_MOUNTED_CERTS", "true"),
            ])
            .env(
                "WASM_INSECURE_REGISTRIES",
                format!("127.0.0.1:{}", registry.port),
            )
            .env("ENVOY_STATUS_PORT", free_port("127.0.0.1").to_string())
            .env("ENVOY_PROMETHEUS_PORT", free_port("127.0.0.1").to_string());
        let mut agent = Running::start(workload.name, command, dir.join("agent.log"));
        eventually(&format!("{} ready", workload.name), WAIT, || {
            agent.assert_running();
            http_get(local(status), "/healthz/ready").filter(|(code, _)| *code == 200)
        });
        Sidecar {
            agent,
            admin,
            status,
        }
    }

    fn admin_get(&self, path: &str) -> String {
        http_get(local(self.admin), path)
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// `wasmcustom.traffic_mirror.canary.<counter>` in Envoy's /stats, None when absent.
    fn counter(&self, counter: &str) -> Option<u64> {
        let name = format!("wasmcustom.traffic_mirror.canary.{counter}");
        self.admin_get(&format!("/stats?filter=^{name}$"))
            .lines()
            .find_map(|line| line.strip_prefix(&name)?.strip_prefix(": ")?.parse().ok())
    }

    fn wait_for_counter(&self, counter: &str, expected: u64) {
        eventually(&format!("{counter} == {expected}"), WAIT, || {
            (self.counter(counter) == Some(expected)).then_some(())
        });
    }

    /// The requests Envoy counted on `cluster`'s endpoints (admin /clusters, `rq_total`).
    fn cluster_requests(&self, cluster: &str) -> u64 {
        let prefix = format!("{cluster}::");
        self.admin_get("/clusters")
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_once("::rq_total::"))
            .filter_map(|(_, total)| total.trim().parse::<u64>().ok())
            .sum()
    }

    /// The ECDS filter istiod sent for the extension, as Envoy holds it.
    fn ecds(&self) -> String {
        self.admin_get("/config_dump?resource=ecds_filters")
    }

    /// What the agent serves Prometheus (Envoy's stats merged with its own).
    fn prometheus(&self) -> String {
        http_get(local(self.status), "/stats/prometheus")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }
}

/// The pod annotations of envoy/istio/proxy-stats.yaml (`metadata.annotations` of its pod
/// template): each `key: value`, or `key: |` and the literal block under it. Only that much YAML
/// is read; anything else in the block is a change to the manifest this test must learn.
fn proxy_stats_annotations() -> Vec<(String, String)> {
    let manifest = read(repo_root().join("envoy/istio/proxy-stats.yaml"));
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    let mut lines = manifest
        .lines()
        .skip_while(|line| line.trim() != "annotations:");
    let outer = indent_of(lines.next().expect("proxy-stats.yaml has `annotations:`"));
    let mut annotations: Vec<(String, String)> = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for line in lines.take_while(|line| line.trim().is_empty() || indent_of(line) > outer) {
        let indent = indent_of(line);
        if let Some((key_indent, text)) = block.as_mut() {
            if line.trim().is_empty() || indent > *key_indent {
                text.push_str(line);
                text.push('\n');
                continue;
            }
        }
        if let Some((_, text)) = block.take() {
            let value = dedent(&text);
            annotations.last_mut().expect("a block follows its key").1 = value;
        }
        let (key, value) = line
            .trim()
            .split_once(": ")
            .unwrap_or_else(|| panic!("proxy-stats.yaml: not `key: value`: {line}"));
        assert!(
            !value.starts_with(['"', '\'', '>']),
            "unquoted values only: {line}"
        );
        if value == "|" {
            block = Some((indent, String::new()));
        }
        annotations.push((key.to_string(), value.to_string()));
    }
    if let Some((_, text)) = block {
        annotations.last_mut().expect("a block follows its key").1 = dedent(&text);
    }
    assert!(
        !annotations.is_empty(),
        "no annotations in proxy-stats.yaml"
    );
    annotations
}

/// The agent's `--proxyComponentLogLevel`, as Istio's injection template writes it: the pod's
/// `sidecar.istio.io/componentLogLevel`, else the chart's default (`misc:error`). The agent
/// does not read this annotation itself.
fn component_log_level(annotations: &[(String, String)]) -> &str {
    annotations
        .iter()
        .find(|(key, _)| key == "sidecar.istio.io/componentLogLevel")
        .map_or("misc:error", |(_, value)| value.as_str())
}

/// A YAML literal block's text: its lines without their common indentation.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| format!("{}\n", line.get(indent..).unwrap_or("")))
        .collect()
}

/// The pod's annotations where istio-agent reads them: `./etc/istio/pod/annotations` from its
/// working directory (in a pod, `/etc/istio/pod/annotations`, which the injector mounts from
/// the downward API), one `key="value"` per line, the value quoted as Go's `%q` does (the
/// agent unquotes it with `strconv.Unquote`). From that file the agent applies
/// `proxy.istio.io/config` over its PROXY_CONFIG and adds `sidecar.istio.io/extraStatTags` to
/// the bootstrap's stats tags (pkg/bootstrap/config.go, getStatsOptions).
fn write_pod_annotations(dir: &Path, annotations: &[(String, String)]) {
    if annotations.is_empty() {
        return;
    }
    let pod_dir = dir.join("etc/istio/pod");
    std::fs::create_dir_all(&pod_dir).expect("pod info dir");
    let text: String = annotations
        .iter()
        .map(|(key, value)| format!("{key}={}\n", go_quote(value)))
        .collect();
    std::fs::write(pod_dir.join("annotations"), text).expect("pod annotations");
}

/// `value` as Go's `%q` writes printable ASCII text: in double quotes, with `\\`, `\"` and `\n`.
fn go_quote(value: &str) -> String {
    let mut quoted = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            ' '..='~' => quoted.push(c),
            _ => panic!("an annotation holds {c:?}: extend go_quote"),
        }
    }
    quoted.push('"');
    quoted
}

// ---------------------------------------------------------------------------------------------
// The mesh of the test, and its config folder

/// Fields drop in order: the processes go first, the folder with their logs last.
struct Mesh {
    config_dir: PathBuf,
    v1_backend: Backend,
    canary: Backend,
    baseline: Backend,
    registry: Registry,
    plugin_url: String,
    istiod: Istiod,
    v1: Sidecar,
    client: Sidecar,
    client_listener: SocketAddr,
    root: tempfile::TempDir,
}

impl Mesh {
    fn start() -> Mesh {
        let mut root = tempfile::tempdir().expect("temp dir");
        // ISTIO_E2E_KEEP=1 keeps the logs and configurations of every process.
        root.disable_cleanup(std::env::var_os("ISTIO_E2E_KEEP").is_some());
        let config_dir = root.path().join("istio-config");
        std::fs::create_dir_all(&config_dir).expect("config dir");
        let v1_backend = Backend::replying(|request| user_service(request, "ada@example.com"));
        let canary = Backend::replying(|request| user_service(request, "ada@example.org"));
        let baseline = Backend::replying(|request| user_service(request, "ada@example.com"));
        let registry = Registry::start(root.path());
        let plugin_url = registry.push_plugin();
        let subnet = run_subnet();
        let (v1_ip, client_ip) = (format!("{subnet}.10"), format!("{subnet}.20"));
        let ports = [
            ("V1_IP", v1_ip.clone()),
            ("V1_INBOUND_PORT", free_port(&v1_ip).to_string()),
            ("V1_BACKEND_PORT", v1_backend.addr().port().to_string()),
            ("CANARY_PORT", canary.addr().port().to_string()),
            ("BASELINE_PORT", baseline.addr().port().to_string()),
            ("CLIENT_IP", client_ip.clone()),
        ];
        for name in ["service.yaml", "sidecars.yaml"] {
            std::fs::write(config_dir.join(name), fill(&template(name), &ports)).expect("write");
        }
        std::fs::write(
            config_dir.join("destinationrule.yaml"),
            destination_rule_with_baseline(),
        )
        .expect("write the DestinationRule");
        let live_route = template("virtualservice-v1.yaml");
        std::fs::write(config_dir.join("virtualservice.yaml"), live_route).expect("write");
        let istiod = Istiod::start(root.path(), &config_dir);
        let v1 = Workload {
            name: "user-service-v1",
            ip: &v1_ip,
            labels: r#"{"app":"user-service","version":"v1"}"#,
            annotations: &proxy_stats_annotations(),
        };
        let client = Workload {
            name: "client",
            ip: &client_ip,
            labels: r#"{"app":"client"}"#,
            annotations: &[],
        };
        let v1 = Sidecar::start(root.path(), &v1, &istiod, &registry);
        let client = Sidecar::start(root.path(), &client, &istiod, &registry);
        let client_listener = format!("{client_ip}:8080").parse().expect("addr");
        eventually("the caller's route to v1", WAIT, || {
            let routes = client.admin_get("/config_dump?resource=dynamic_route_configs");
            routes.contains("outbound|8080|v1|").then_some(())
        });
        Mesh {
            root,
            config_dir,
            v1_backend,
            canary,
            baseline,
            registry,
            plugin_url,
            istiod,
            v1,
            client,
            client_listener,
        }
    }

    /// Writes a resource into istiod's folder (istiod watches it); `None` removes it. A new
    /// version replaces the old one at once (rename): istiod never reads half a file.
    fn put(&self, name: &str, content: Option<&str>) {
        let path = self.config_dir.join(name);
        match content {
            Some(text) => {
                let staged = self.root.path().join(name);
                std::fs::write(&staged, text).expect("write resource");
                std::fs::rename(&staged, &path).expect("move resource into place");
            }
            None => std::fs::remove_file(&path).expect("remove resource"),
        }
    }

    /// The project's extension manifest (ISTIO_MANIFEST: `trafficextension.yaml` for a recent
    /// istiod, `wasmplugin.yaml` for Istio 1.29 and older) with only its image URL replaced (and
    /// `sha256` added beside it), and `percentage` set.
    fn extension(&self, sha256: &str, percentage: u32) -> String {
        let name = std::env::var("ISTIO_MANIFEST").unwrap_or("trafficextension.yaml".into());
        let manifest = read(repo_root().join("envoy/istio").join(name));
        let url = "url: oci://ghcr.io/traffic-mirror/traffic-mirror:0.1.0";
        let line = manifest
            .lines()
            .find(|line| line.trim_start() == url)
            .unwrap_or_else(|| panic!("the manifest has `{url}`"));
        let indent = &line[..line.len() - url.len()];
        assert!(manifest.contains("percentage: 100\n"));
        manifest
            .replace(
                line,
                &format!("{indent}url: {}\n{indent}sha256: {sha256}", self.plugin_url),
            )
            .replace("percentage: 100\n", &format!("percentage: {percentage}\n"))
    }

    /// `extension(<the image's digest>, 100)` with its whole `pluginConfig` replaced by
    /// `config`, written as JSON (which is YAML too: one flow mapping on the key's line).
    fn extension_with_plugin_config(&self, config: &str) -> String {
        let manifest = self.extension(&printed_digest(), 100);
        let (head, block) = manifest
            .split_once("pluginConfig:\n")
            .expect("the manifest has a pluginConfig block");
        let key_indent = head.len() - head.trim_end_matches(' ').len();
        assert!(
            block
                .lines()
                .all(|line| line.len() - line.trim_start().len() > key_indent),
            "pluginConfig is the manifest's last block"
        );
        let config: serde_json::Value = serde_json::from_str(config).expect("the config is JSON");
        format!("{head}pluginConfig: {config}\n")
    }

    /// A connection to the caller's egress listener (user-service through its sidecar).
    fn caller(&self) -> Client {
        if TcpStream::connect(self.client_listener).is_err() {
            panic!(
                "nothing listens on the caller's egress listener {}; its listeners:\n{}",
                self.client_listener,
                self.client.admin_get("/listeners")
            );
        }
        Client::http1(self.client_listener)
    }

    fn alive(&mut self) {
        self.istiod.process.assert_running();
        self.v1.agent.assert_running();
        self.client.agent.assert_running();
    }
}

/// envoy/istio/destinationrule.yaml with a `baseline` subset added: the reference target (a
/// second instance of the current version) the comparison phase compares the canary with.
fn destination_rule_with_baseline() -> String {
    let rule = read(repo_root().join("envoy/istio/destinationrule.yaml"));
    assert!(
        rule.ends_with("    labels:\n      version: canary\n"),
        "the canary subset ends destinationrule.yaml:\n{rule}"
    );
    rule + "  - name: baseline\n    labels:\n      version: baseline\n"
}

/// user-service as the backends play it: a user by id, a created user, `ok` to anything else.
/// v1 and the baseline answer alike; the canary answers another `email`: the one difference
/// the comparison phase must find, in that field of `GET /users/{id}` only.
fn user_service(request: &Received, email: &str) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", user) if user.starts_with("/users/") => Reply::json(
            200,
            &format!(r#"{{"id":42,"name":"ada","email":"{email}"}}"#),
        ),
        ("POST", "/users") => Reply::json(200, r#"{"id":43,"name":"ada"}"#),
        _ => Reply::new(200, "ok"),
    }
}

/// What the caller sends in each run: credentials in headers and query, a JSON body.
fn requests() -> Vec<Request> {
    let get = Request::get("/users/42?token=t0ps3cret&page=2")
        .authority(SERVICE)
        .header("authorization", "Bearer s3cret")
        .header("cookie", "session=abc123")
        .header("x-api-key", "k-42")
        .header("x-request-id", "e2e-get");
    let post = Request::post("/users", r#"{"name":"ada","password":"hunter2"}"#)
        .authority(SERVICE)
        .header("content-type", "application/json")
        .header("authorization", "Bearer s3cret")
        .header("x-request-id", "e2e-post");
    vec![get, post]
}

fn send_all(client: &mut Client, requests: &[Request]) {
    for request in requests {
        let response = client.send(request.clone());
        assert_eq!(
            response.status, 200,
            "original {} {}",
            request.method, request.path
        );
    }
}

/// Each request with what a backend received of it, matched by `x-request-id`: copies go out
/// on their own connections, so they may arrive in another order than the originals were sent.
fn paired<'a>(sent: &'a [Request], received: &'a [Received]) -> Vec<(&'a Request, &'a Received)> {
    sent.iter()
        .map(|request| {
            let id = request
                .headers
                .iter()
                .find(|(name, _)| name == "x-request-id")
                .map(|(_, value)| value.as_slice());
            let found = received
                .iter()
                .find(|r| r.header_bytes("x-request-id") == id)
                .unwrap_or_else(|| {
                    panic!("nothing received for {} {}", request.method, request.path)
                });
            (request, found)
        })
        .collect()
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received.header(name).unwrap_or("(absent)")
}

/// The request as the v1 backend received it carries every header the caller sent, with
/// the same value, and the same method, path and body.
fn assert_original_intact(sent: &Request, received: &Received) {
    assert_eq!(received.method, sent.method);
    assert_eq!(received.path, sent.path);
    assert_eq!(received.body, sent.body, "original body of {}", sent.path);
    for (name, value) in &sent.headers {
        assert_eq!(
            received.header_bytes(name),
            Some(value.as_slice()),
            "original's {name} on {}",
            sent.path
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The test

#[test]
#[ignore = "needs Istio's binaries: run `make istio-e2e`"]
fn istiod_delivers_the_plugin_to_a_sidecar_that_mirrors_scrubbed_copies() {
    let started = Instant::now();
    let mut mesh = Mesh::start();
    println!(
        "mesh up in {:?} ({})",
        started.elapsed(),
        mesh.root.path().display()
    );
    let plugin = plugin_copies_reach_canary_scrubbed_and_marked(&mut mesh);
    percentage_change_in_the_file_reaches_the_running_sidecar(&mut mesh);
    // Before the wrong sha256: that change swaps the filter's configuration (ECDS) for every
    // new request, whereas removing the extension (the VirtualService run) changes the listener,
    // whose open connections keep the old filter while they drain: they must not hold a
    // plugin that copies.
    verdict_series_reach_the_agents_prometheus_with_their_labels(&mut mesh);
    wrong_sha256_keeps_the_plugin_out(&mut mesh);
    let native = virtualservice_mirror_of_the_same_requests(&mut mesh);
    let report = side_by_side(&requests(), &plugin, &native);
    let out = repo_root().join("target/istio-e2e");
    std::fs::create_dir_all(&out).expect("report dir");
    std::fs::write(out.join("side-by-side.md"), &report).expect("report");
    println!("{report}\nwhole test: {:?}", started.elapsed());
}

/// What a run left at the backends and in the counters, for the side-by-side.
struct RunRecord {
    originals: Vec<Received>,
    copies: Vec<Received>,
    counted: Vec<String>,
}

fn plugin_copies_reach_canary_scrubbed_and_marked(mesh: &mut Mesh) -> RunRecord {
    let started = Instant::now();
    mesh.put(
        "extension.yaml",
        Some(&mesh.extension(&printed_digest(), 100)),
    );
    // The counters exist once the plugin is configured, with the proxyStatsMatcher of
    // envoy/istio/proxy-stats.yaml (Istio's sidecars drop every stat it does not include).
    eventually("the plugin configured in v1's sidecar", WAIT, || {
        mesh.alive();
        mesh.v1.counter("mirrored")
    });
    println!(
        "plugin active in v1's sidecar {:?} after the manifest",
        started.elapsed()
    );
    assert_eq!(
        mesh.registry.layers_pulled_by_agent(),
        1,
        "the agent pulled the plugin's layer from the registry"
    );
    assert!(
        mesh.v1
            .ecds()
            .contains("envoy.extensions.filters.http.wasm.v3.Wasm"),
        "the ECDS filter is the Wasm filter:\n{}",
        mesh.v1.ecds()
    );

    let sent = requests();
    send_all(&mut mesh.caller(), &sent);
    let originals = mesh.v1_backend.wait_for(2, WAIT);
    for (request, original) in paired(&sent, &originals) {
        assert_original_intact(request, original);
    }
    let copies = mesh.canary.wait_for(2, WAIT);
    for (request, copy) in paired(&sent, &copies) {
        assert_eq!(copy.method, request.method);
        assert_eq!(copy.path, request.path);
        assert_eq!(copy.body, request.body, "the copy's body");
        assert_eq!(copy.header("host"), Some(SERVICE));
        assert_eq!(copy.header("x-traffic-mirror"), Some("canary"), "marked");
        for secret in ["authorization", "cookie", "x-api-key"] {
            assert!(!copy.has_header(secret), "copy carries {secret}: {copy:?}");
        }
    }
    mesh.v1.wait_for_counter("mirrored", 2);
    mesh.v1.wait_for_counter("responses_2xx", 2);
    // The copies went through the cluster istiod built for the canary subset: its only
    // endpoint is the canary's WorkloadEntry.
    assert_eq!(mesh.v1.cluster_requests(CANARY_CLUSTER), 2);
    let prometheus = mesh.v1.prometheus();
    let scraped: Vec<String> = prometheus
        .lines()
        .filter(|line| line.contains("traffic_mirror") && !line.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(
        scraped
            .iter()
            .any(|line| line.contains("mirrored") && line.ends_with(" 2")),
        "the agent's /stats/prometheus shows the plugin's counters: {scraped:#?}"
    );
    println!("scraped from the agent:\n{}", scraped.join("\n"));
    let counted = scraped
        .into_iter()
        .filter(|line| line.starts_with("traffic_mirror_") && !line.ends_with(" 0"))
        .collect();
    RunRecord {
        originals,
        copies,
        counted,
    }
}

fn percentage_change_in_the_file_reaches_the_running_sidecar(mesh: &mut Mesh) {
    let (originals_before, copies_before) = (mesh.v1_backend.count(), mesh.canary.count());
    let mirrored_before = mesh.v1.counter("mirrored").unwrap_or(0);
    let mut client = mesh.caller();
    let ping = || Request::get("/ping").authority(SERVICE);
    let percentage_zero = mesh.extension(&printed_digest(), 0);
    mesh.put("extension.yaml", Some(&percentage_zero));
    let started = Instant::now();
    let mut during = 0usize;
    // Requests keep flowing while istiod pushes the change; none may fail.
    eventually("percentage 0 in the running sidecar", WAIT, || {
        let response = client.send(ping());
        assert_eq!(response.status, 200, "an original failed during the change");
        during += 1;
        (mesh.v1.counter("sampled_out").unwrap_or(0) > 0).then_some(())
    });
    println!(
        "percentage 100 -> 0 reached the sidecar in {:?}; {during} originals sent meanwhile, all 200",
        started.elapsed()
    );
    // Each request sent during the change was either copied (under the old configuration) or
    // sampled out (under the new one), never both, never neither.
    // Counts reach Envoy's stats with the plugin's next tick: read them until they add up.
    let sampled_out = eventually(
        "every request of the change copied or sampled out",
        WAIT,
        || {
            let sampled_out = mesh.v1.counter("sampled_out").unwrap_or(0) as usize;
            (mesh.canary.count() - copies_before + sampled_out == during).then_some(sampled_out)
        },
    );
    let copies = mesh.canary.count();
    for _ in 0..5 {
        assert_eq!(client.send(ping()).status, 200);
    }
    mesh.v1
        .wait_for_counter("sampled_out", (sampled_out + 5) as u64);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(mesh.canary.count(), copies, "no copies at percentage 0");
    assert_eq!(mesh.v1_backend.count(), originals_before + during + 5);
    // The counters go on across the change (same names, same Envoy stats): every request of
    // the whole test so far is in exactly one of them, and every copy in a result.
    let mirrored = mesh.v1.counter("mirrored").unwrap_or(0);
    println!(
        "counters after the change: mirrored {mirrored} (before: {mirrored_before}), sampled_out {}",
        sampled_out + 5
    );
    assert_eq!(mirrored as usize + sampled_out + 5, mesh.v1_backend.count());
    assert_eq!(mirrored as usize, copies);
    mesh.v1.wait_for_counter("responses_2xx", mirrored);
}

fn wrong_sha256_keeps_the_plugin_out(mesh: &mut Mesh) {
    let mirrored = mesh.v1.counter("mirrored").unwrap_or(0);
    let copies = mesh.canary.count();
    // The digest of an empty file: a well-formed sha256 that is not our image's.
    let wrong = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    mesh.put("extension.yaml", Some(&mesh.extension(wrong, 100)));
    let started = Instant::now();
    // FAIL_OPEN: the agent replaces the filter with an allow-all RBAC filter.
    eventually("the fail-open filter in v1's sidecar", WAIT, || {
        mesh.alive();
        mesh.v1.ecds().contains("wasm-default-allow").then_some(())
    });
    println!(
        "wrong sha256: fail-open filter in place {:?} after the manifest",
        started.elapsed()
    );
    let mut client = mesh.caller();
    for request in requests() {
        let response = client.send(request.clone());
        assert_eq!(response.status, 200, "FAIL_OPEN lets originals through");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mesh.canary.count(), copies, "no copies without the plugin");
    println!(
        "with the fail-open filter: originals 200, no copies; plugin counters: {:?} (mirrored {mirrored} before)",
        mesh.v1.counter("mirrored")
    );
    let refusal = mesh
        .v1
        .agent
        .log()
        .lines()
        .find(|line| line.contains("digest") || line.contains("checksum"))
        .map(str::to_string);
    println!("the agent said: {refusal:?}");
    assert!(
        refusal.is_some(),
        "the agent logs why it refused the module"
    );
}

/// The sample of `series` (a name and its labels, exactly as written) in Prometheus text.
fn sample(prometheus: &str, series: &str) -> Option<u64> {
    prometheus
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The per-endpoint series of the verdict (docs/shadow-verification.md: Metrics per endpoint
/// and field) on the agent's `/stats/prometheus`, with their labels, as Prometheus scrapes a
/// pod: the plugin compares the canary with the baseline (tests/istio-e2e/
/// plugin-config-compare.json, endpoint templates `GET /users/{id}` and `POST /users`), and
/// the canary answers another `email` to `GET /users/{id}`. The labels come from the stat
/// names (`name=.=value;.;`) by the stats tags Istio's bootstrap makes of the pod's
/// `sidecar.istio.io/extraStatTags`; the series are kept by its `proxyStatsMatcher`.
fn verdict_series_reach_the_agents_prometheus_with_their_labels(mesh: &mut Mesh) {
    let config = template("plugin-config-compare.json");
    mesh.put(
        "extension.yaml",
        Some(&mesh.extension_with_plugin_config(&config)),
    );
    let started = Instant::now();
    let series = |name: &str, endpoint: &str, extra: &str| {
        format!(r#"traffic_mirror_{name}{{mirror_target="canary",endpoint="{endpoint}"{extra}}}"#)
    };
    let (get, post) = ("GET /users/{id}", "POST /users");
    // A configured template's series are defined, at 0, when the configuration is applied.
    eventually("the comparing plugin in v1's sidecar", WAIT, || {
        mesh.alive();
        (sample(&mesh.v1.prometheus(), &series("endpoint_compared", get, "")) == Some(0))
            .then_some(())
    });
    println!(
        "comparing configuration in v1's sidecar {:?} after the manifest",
        started.elapsed()
    );
    let (canary_before, baseline_before) = (mesh.canary.count(), mesh.baseline.count());
    let rounds = 2;
    for _ in 0..rounds {
        send_all(&mut mesh.caller(), &requests());
    }
    let copies = rounds * requests().len();
    mesh.canary.wait_for(canary_before + copies, WAIT);
    mesh.baseline.wait_for(baseline_before + copies, WAIT);
    let n = rounds as u64;
    let expected = [
        (series("endpoint_compared", get, ""), n),
        (series("endpoint_matched", get, ""), 0),
        (series("endpoint_mismatched", get, ""), n),
        (
            series("endpoint_mismatched_aspect", get, r#",aspect="body""#),
            n,
        ),
        (series("field_differed", get, r#",field="$.email""#), n),
        (series("endpoint_compared", post, ""), n),
        (series("endpoint_matched", post, ""), n),
        (series("endpoint_mismatched", post, ""), 0),
    ];
    // Counts reach Envoy's stats with the plugin's next tick.
    let prometheus = eventually("the comparisons counted per endpoint", WAIT, || {
        let prometheus = mesh.v1.prometheus();
        expected
            .iter()
            .all(|(series, value)| sample(&prometheus, series) == Some(*value))
            .then_some(prometheus)
    });
    let verdict_lines: Vec<&str> = prometheus
        .lines()
        .filter(|line| {
            line.starts_with("traffic_mirror_endpoint_")
                || line.starts_with("traffic_mirror_field_")
        })
        .collect();
    println!(
        "the verdict's series on the agent's /stats/prometheus, counted {:?} after the manifest:\n{}",
        started.elapsed(),
        verdict_lines.join("\n")
    );
    for line in &verdict_lines {
        // Every tag was extracted: none is left in a name, each series has the labels.
        assert!(
            !line.contains("=.=") && line.contains(r#"{mirror_target="canary",endpoint=""#),
            "a series without its labels: {line}"
        );
    }
    // Only `$.email` of `GET /users/{id}` differed: no other field counts a difference.
    for line in verdict_lines
        .iter()
        .filter(|line| line.starts_with("traffic_mirror_field_differed{"))
    {
        assert!(
            line.contains(r#"field="$.email""#) || line.ends_with(" 0"),
            "only $.email differed: {line}"
        );
    }
}

fn virtualservice_mirror_of_the_same_requests(mesh: &mut Mesh) -> RunRecord {
    mesh.put("extension.yaml", None);
    mesh.put(
        "virtualservice.yaml",
        Some(&read(
            repo_root().join("envoy/istio/virtualservice-mirror.yaml"),
        )),
    );
    let started = Instant::now();
    eventually("the mirror policy in the caller's sidecar", WAIT, || {
        mesh.alive();
        let routes = mesh
            .client
            .admin_get("/config_dump?resource=dynamic_route_configs");
        routes.contains("request_mirror_policies").then_some(())
    });
    eventually("no extension left in v1's sidecar", WAIT, || {
        let listeners = mesh.v1.admin_get("/config_dump?resource=dynamic_listeners");
        (!listeners.contains("traffic-mirror")).then_some(())
    });
    println!("VirtualService mirror in place in {:?}", started.elapsed());
    let (originals_before, copies_before) = (mesh.v1_backend.count(), mesh.canary.count());
    let sent = requests();
    send_all(&mut mesh.caller(), &sent);
    let originals =
        mesh.v1_backend.wait_for(originals_before + 2, WAIT)[originals_before..].to_vec();
    for (request, original) in paired(&sent, &originals) {
        assert_original_intact(request, original);
    }
    let copies = mesh.canary.wait_for(copies_before + 2, WAIT)[copies_before..].to_vec();
    // Only the caller's mirror copies now: no copy from a plugin left in v1's sidecar (one
    // would be marked).
    for copy in &copies {
        assert!(
            !copy.has_header("x-traffic-mirror"),
            "a plugin's copy: {copy:?}"
        );
    }
    // Istio's mirror: the copy is the original, credentials included, and unmarked.
    for (request, copy) in paired(&sent, &copies) {
        assert_eq!(copy.path, request.path);
        assert_eq!(copy.body, request.body);
        assert_eq!(copy.header("authorization"), Some("Bearer s3cret"));
        assert!(!copy.has_header("x-traffic-mirror"));
    }
    let counted = eventually("the mirror cluster's requests in the caller", WAIT, || {
        let total = mesh.client.cluster_requests(CANARY_CLUSTER);
        (total == 2).then_some(total)
    });
    let stats = mesh.client.admin_get("/stats?filter=canary");
    RunRecord {
        originals,
        copies,
        counted: vec![
            format!("caller's /clusters: {CANARY_CLUSTER} rq_total {counted}"),
            format!(
                "caller's /stats lines naming the canary: {}",
                stats.lines().count()
            ),
        ],
    }
}

/// A markdown table of what the canary received from each, header by header.
fn side_by_side(sent: &[Request], plugin: &RunRecord, native: &RunRecord) -> String {
    let mut out = String::from("| | sent | v1 received (plugin run) | canary from the plugin | canary from VirtualService `mirror` |\n|---|---|---|---|---|\n");
    // Each row by `x-request-id`: copies may arrive in another order than the originals.
    let (originals, copies, mirrors) = (
        paired(sent, &plugin.originals),
        paired(sent, &plugin.copies),
        paired(sent, &native.copies),
    );
    for (i, request) in sent.iter().enumerate() {
        let (original, copy, mirror) = (originals[i].1, copies[i].1, mirrors[i].1);
        let row = |name: &str, sent: String, a: String, b: String, c: String| {
            format!("| {} {name} | {sent} | {a} | {b} | {c} |\n", request.method)
        };
        out += &row(
            "path",
            request.path.clone(),
            original.path.clone(),
            copy.path.clone(),
            mirror.path.clone(),
        );
        let mut names: Vec<String> = request.headers.iter().map(|(n, _)| n.clone()).collect();
        for received in [original, copy, mirror] {
            for (name, _) in &received.headers {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        for name in names {
            let sent_value = request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| {
                    if name == "host" {
                        request.authority.clone()
                    } else {
                        "".into()
                    }
                });
            out += &row(
                &format!("`{name}`"),
                sent_value,
                header(original, &name).into(),
                header(copy, &name).into(),
                header(mirror, &name).into(),
            );
        }
        let body = |r: &Received| String::from_utf8_lossy(&r.body).into_owned();
        out += &row(
            "body",
            String::from_utf8_lossy(&request.body).into_owned(),
            body(original),
            body(copy),
            body(mirror),
        );
    }
    out += &format!(
        "\nplugin counted: {}\n\nVirtualService counted: {}\n",
        plugin.counted.join("; "),
        native.counted.join("; ")
    );
    out
}
