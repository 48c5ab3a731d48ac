//! `prune-exports <file.wasm> <export,export,...>`: keeps only the listed exports of a wasm
//! module and rewrites the file in place.
//!
//! Why: the proxy-wasm Rust SDK exports every callback of the ABI, and Envoy calls each
//! exported callback on every request (response headers, response body, log...), a crossing
//! into the VM each time even when the plugin ignores it. Envoy skips callbacks a module does
//! not export, so removing the unused ones makes every request cheaper. Only the export
//! section changes: the code stays as compiled.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, keep] = args.as_slice() else {
        eprintln!("usage: prune-exports <file.wasm> <export,export,...>");
        return ExitCode::from(2);
    };
    let keep: Vec<&str> = keep
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let result = std::fs::read(path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|module| prune(&module, &keep))
        .and_then(|(pruned, removed)| {
            let temporary = format!("{path}.pruning");
            std::fs::write(&temporary, pruned)
                .and_then(|()| std::fs::rename(&temporary, path))
                .map_err(|e| format!("cannot write {path}: {e}"))?;
            Ok(removed)
        });
    match result {
        Ok(removed) if removed.is_empty() => {
            println!("{path}: exports already pruned");
            ExitCode::SUCCESS
        }
        Ok(removed) => {
            println!("{path}: removed exports {}", removed.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("prune-exports: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The module with only the `keep` exports, and the names of those it removed. Fails if the
/// module is not wasm, or lacks an export listed in `keep` (a callback the plugin needs).
fn prune(module: &[u8], keep: &[&str]) -> Result<(Vec<u8>, Vec<String>), String> {
    const HEADER: &[u8] = b"\0asm\x01\0\0\0";
    if !module.starts_with(HEADER) {
        return Err("not a wasm module (version 1)".into());
    }
    let mut out = HEADER.to_vec();
    let mut removed = Vec::new();
    let mut reader = Reader {
        bytes: module,
        at: HEADER.len(),
    };
    while !reader.done() {
        let id = reader.byte()?;
        let size = reader.leb()? as usize;
        let mut content = reader.take(size)?.to_vec();
        if id == EXPORT_SECTION {
            let (kept, dropped) = prune_export_section(&content, keep)?;
            content = kept;
            removed = dropped;
        }
        out.push(id);
        write_leb(&mut out, content.len() as u32);
        out.extend_from_slice(&content);
    }
    Ok((out, removed))
}

const EXPORT_SECTION: u8 = 7;

fn prune_export_section(section: &[u8], keep: &[&str]) -> Result<(Vec<u8>, Vec<String>), String> {
    let mut reader = Reader {
        bytes: section,
        at: 0,
    };
    let count = reader.leb()?;
    let mut kept = Vec::new();
    let mut kept_names = Vec::new();
    let mut removed = Vec::new();
    for _ in 0..count {
        let start = reader.at;
        let name_length = reader.leb()? as usize;
        let name = String::from_utf8_lossy(reader.take(name_length)?).into_owned();
        reader.byte()?; // kind: function, table, memory or global
        reader.leb()?; // index
        let entry = section.get(start..reader.at).ok_or("truncated export")?;
        if keep.contains(&name.as_str()) {
            kept.push(entry);
            kept_names.push(name);
        } else {
            removed.push(name);
        }
    }
    if let Some(missing) = keep
        .iter()
        .find(|name| !kept_names.iter().any(|k| k == *name))
    {
        return Err(format!("the module does not export {missing}"));
    }
    let mut out = Vec::new();
    write_leb(&mut out, kept.len() as u32);
    kept.iter().for_each(|entry| out.extend_from_slice(entry));
    Ok((out, removed))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, String> {
        let byte = *self.bytes.get(self.at).ok_or("truncated module")?;
        self.at += 1;
        Ok(byte)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let slice = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or("truncated module")?;
        self.at += n;
        Ok(slice)
    }

    /// An unsigned LEB128 number, as wasm encodes sizes and indexes.
    fn leb(&mut self) -> Result<u32, String> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.byte()?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("malformed LEB128 number".into())
    }
}

fn write_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with a type, three functions, a memory and four exports.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        m.extend([3, 4, 3, 0, 0, 0]); // function section: three functions of type 0
        m.extend([5, 3, 1, 0, 1]); // memory section: one memory, min 1 page
        let mut exports = vec![4];
        for (name, kind, index) in [
            ("keep_a", 0, 0),
            ("drop_b", 0, 1),
            ("memory", 2, 0),
            ("keep_c", 0, 2),
        ] {
            exports.push(name.len() as u8);
            exports.extend(name.as_bytes());
            exports.extend([kind, index]);
        }
        m.push(7);
        write_leb(&mut m, exports.len() as u32);
        m.extend(exports);
        m.extend([10, 10, 3, 2, 0, 0x0b, 2, 0, 0x0b, 2, 0, 0x0b]); // code: three empty bodies
        m
    }

    fn export_names(module: &[u8]) -> Vec<String> {
        let (_, removed) = prune(module, &[]).unwrap();
        removed
    }

    #[test]
    fn keeps_listed_exports_and_everything_else_of_the_module() {
        let original = module();
        let (pruned, removed) = prune(&original, &["keep_a", "memory", "keep_c"]).unwrap();
        assert_eq!(removed, ["drop_b"]);
        assert_eq!(export_names(&pruned), ["keep_a", "memory", "keep_c"]);
        assert_eq!(pruned.len(), original.len() - (1 + 6 + 2));
        // The code section is untouched.
        assert!(pruned.ends_with(&[10, 10, 3, 2, 0, 0x0b, 2, 0, 0x0b, 2, 0, 0x0b]));
    }

    #[test]
    fn pruning_twice_changes_nothing() {
        let keep = ["keep_a", "memory"];
        let (once, _) = prune(&module(), &keep).unwrap();
        let (twice, removed) = prune(&once, &keep).unwrap();
        assert_eq!(once, twice);
        assert!(removed.is_empty());
    }

    #[test]
    fn refuses_to_drop_a_needed_export_or_read_garbage() {
        assert!(prune(&module(), &["keep_a", "proxy_on_tick"])
            .unwrap_err()
            .contains("proxy_on_tick"));
        assert!(prune(b"not wasm", &[]).is_err());
        let truncated = &module()[..30];
        assert!(prune(truncated, &[]).is_err());
    }

    #[test]
    fn leb128_round_trips() {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut bytes = Vec::new();
            write_leb(&mut bytes, value);
            assert_eq!(
                Reader {
                    bytes: &bytes,
                    at: 0
                }
                .leb()
                .unwrap(),
                value
            );
        }
    }
}
