//! The unsafe audit: `unsafe` appears in `src/sys/` only, and every unsafe
//! block or impl there carries a `// SAFETY:` comment stating its invariant.
//! (The compiler holds the first line too: `unsafe_code` is denied
//! everywhere but `src/sys/`; this test also covers tests, examples,
//! benches and, in a checkout, the fuzz targets, and the comments the lint
//! cannot check.)

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The line with its `//` comment removed (string literals are not parsed:
/// none of ours holds the word).
fn code_part(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Whether `unsafe` appears as a word in `code`.
fn mentions_unsafe(code: &str) -> bool {
    code.match_indices("unsafe").any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + 6..].chars().next();
        let word_char = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word_char(before) && !word_char(after)
    })
}

#[test]
fn unsafe_lives_in_src_sys_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    // The fuzz targets live in the repository but not in the published
    // package (Cargo.toml's `include`): audit them wherever they are present.
    if root.join("fuzz").is_dir() {
        rust_files(&root.join("fuzz").join("fuzz_targets"), &mut files);
    }
    let sys = root.join("src").join("sys");
    let mut outside = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&sys)) {
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // This file names the word in its own strings and comments.
            if file.ends_with("unsafe_audit.rs") {
                continue;
            }
            if mentions_unsafe(code_part(line)) {
                outside.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(outside.is_empty(), "unsafe outside src/sys/:\n{}", outside.join("\n"));
}

#[test]
fn every_unsafe_block_in_src_sys_says_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src").join("sys"), &mut files);
    let mut blocks = 0;
    let mut missing = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let code = code_part(line);
            // Blocks and impls need a SAFETY comment; `unsafe fn` items in
            // a trait impl are covered by the impl's.
            let needs_comment =
                (code.contains("unsafe {") || code.contains("unsafe impl")) && mentions_unsafe(code);
            if !needs_comment {
                continue;
            }
            blocks += 1;
            // The comment is on one of the lines just above (a multi-line
            // comment, or a statement that wraps before the block).
            let above = lines[n.saturating_sub(8)..n].iter().rev().take_while(|l| !l.trim().is_empty());
            if !above.chain(std::iter::once(line)).any(|l| l.contains("SAFETY:")) {
                missing.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(blocks >= 20, "found only {blocks} unsafe blocks: is the scan broken?");
    assert!(missing.is_empty(), "unsafe without a SAFETY comment:\n{}", missing.join("\n"));
}
