use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The plugin under test: `$TRAFFIC_MIRROR_WASM` as it is, else the release build (`make
/// wasm`), which must be newer than every source it is built from: a test of a stale plugin
/// would pass or fail for the wrong code.
pub fn wasm_path() -> PathBuf {
    if let Some(given) = std::env::var_os("TRAFFIC_MIRROR_WASM") {
        let path = PathBuf::from(given);
        assert!(
            path.exists(),
            "TRAFFIC_MIRROR_WASM={} is missing",
            path.display()
        );
        return path;
    }
    let root = repo_root();
    let path = root.join("target/wasm32-wasip1/release/traffic_mirror.wasm");
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "{} is missing: run `make wasm` (or `make test`)",
            path.display()
        );
    };
    if let Some(newer) = newer_source(&root, built) {
        panic!(
            "{} is older than {}: run `make wasm` (or set TRAFFIC_MIRROR_WASM to test a given \
             plugin)",
            path.display(),
            newer.display()
        );
    }
    path
}

/// A file the plugin is built from (src/, Cargo.toml, Cargo.lock) changed after `built`.
pub fn newer_source(root: &Path, built: SystemTime) -> Option<PathBuf> {
    let mut sources = vec![root.join("Cargo.toml"), root.join("Cargo.lock")];
    let mut folders = vec![root.join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                sources.push(path);
            }
        }
    }
    sources.into_iter().find(|source| {
        std::fs::metadata(source)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified > built)
    })
}

/// `$ENVOY_BIN`, else the Envoy that `make envoy` installs into `.venv`.
pub fn envoy_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ENVOY_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let lib = repo_root().join(".venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("site-packages/envoy/_bin/envoy"))
            .find(|candidate| candidate.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no Envoy under {}: run `make envoy` or set ENVOY_BIN",
            lib.display()
        )
    })
}
