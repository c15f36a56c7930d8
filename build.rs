//! Links a release binary with the functions dmflow runs at the start of its code, in the order
//! of link/symbol-order.txt (written by bench/symbol_order.py), so a run maps less of the
//! binary: the kernel maps code 64 KiB around each page touched.
//!
//! Only where the linker is known to read the list: a release build for x86_64 Linux (GNU)
//! with Rust's own lld, the default linker there since Rust 1.90, and no linker chosen by hand.
//! Names the list has and the binary lacks are skipped by the linker, quietly.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER: &str = "link/symbol-order.txt";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    if !wants_order() {
        return;
    }
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = Path::new(&manifest).join(ORDER);
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// A release build for x86_64 Linux (GNU), linked by Rust's default lld.
fn wants_order() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    var("PROFILE") == "release"
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && env::var_os("RUSTC_LINKER").is_none()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link")
        && rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the compiler building us (`rustc 1.95.0 (…)` → 95).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc).arg("-V").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
