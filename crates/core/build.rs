//! Embeds the content catalogue (detections, scenarios, queries, the ATT&CK
//! matrix) into the
//! crate: every `*.yaml` under `content/`, with its path, so the binary needs
//! no files at run time and `--detections DIR` can add more.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../content");
    let root = root.canonicalize().unwrap_or(root);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut code = String::new();
    for (name, sub) in [
        ("DETECTIONS", "detections"),
        ("SCENARIOS", "scenarios"),
        ("QUERIES", "queries"),
        ("ATTACK", "attack"),
    ] {
        let dir = root.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = vec![];
        collect(&dir, &mut files);
        files.sort();
        writeln!(
            code,
            "/// Embedded `content/{sub}` files: (path relative to content/, text)."
        )
        .unwrap();
        writeln!(code, "pub static {name}: &[(&str, &str)] = &[").unwrap();
        for f in files {
            // Directories are watched; list each file too so edits rebuild.
            println!("cargo:rerun-if-changed={}", f.display());
            if let Some(parent) = f.parent() {
                println!("cargo:rerun-if-changed={}", parent.display());
            }
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            writeln!(
                code,
                "    ({rel:?}, include_str!({:?})),",
                f.display().to_string()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("content.rs");
    std::fs::write(out, code).unwrap();
}
