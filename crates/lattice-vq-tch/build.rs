//! Keep libtorch_cuda linked into this crate's tests, examples and benches.
//!
//! rustc links with `--as-needed`, and no symbol of libtorch_cuda is referenced directly, so
//! without this the CUDA backend is silently dropped and CUDA tensors fail at run time with
//! "Could not run 'aten::empty.memory_format' ... 'CUDA' backend". Only done when the
//! libtorch in use ships libtorch_cuda (the PyPI wheel does; CPU-only builds do not).

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
