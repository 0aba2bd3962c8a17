//! The data side of lattice-vq-experiments on generated files: no network, no full dataset.

#[path = "data/batches.rs"]
mod batches;
#[path = "data/celeba.rs"]
mod celeba;
#[path = "data/fashion_mnist.rs"]
mod fashion_mnist;
#[path = "data/folder.rs"]
mod folder;
#[path = "data/gzip_bomb.rs"]
mod gzip_bomb;
#[path = "data/idx.rs"]
mod idx;
#[path = "data/png.rs"]
mod png;
#[path = "data/support.rs"]
mod support;
#[path = "data/synthetic.rs"]
mod synthetic;
