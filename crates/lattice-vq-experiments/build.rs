//! With the `tch` feature, keep libtorch_cuda linked into the examples (`--device cuda`).
//!
//! rustc links with `--as-needed` and nothing references libtorch_cuda directly, so without
//! this the CUDA backend is dropped and CUDA tensors fail at run time (see
//! `crates/lattice-vq-tch/build.rs`). Only when the libtorch in use ships libtorch_cuda.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
