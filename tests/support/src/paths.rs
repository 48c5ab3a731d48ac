use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The plugin under test: `$TRAFFIC_MIRROR_WASM`, else the release build (`make wasm`).
pub fn wasm_path() -> PathBuf {
    let path = std::env::var_os("TRAFFIC_MIRROR_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/wasm32-wasip1/release/traffic_mirror.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make wasm` (or `make test`)",
        path.display()
    );
    path
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
