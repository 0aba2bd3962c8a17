#!/usr/bin/env python3
"""The paper's VQ-VAE in plain PyTorch, written from docs/official-code.md: the baseline that the
tch (and candle) training-step benchmarks are measured against.

It runs as a server so that a benchmark can interleave its own timed runs with ours: each
line on stdin, `QUANTIZER STEPS [INIT]`, answers one line on stdout with the mean seconds per
training step (forward, backward, Adam) over STEPS steps of the Fashion-MNIST model, batch 64.
INIT, given with the first request for a quantizer, is a safetensors file (as the Rust side
saves it) with the model's initial weights under the official names and the batch of images
as `images`: both sides then train the very same model on the very same batch.
The first line it prints is `ready`. Flags: --threads N (torch.set_num_threads), --batch B,
--seed S, --device cpu|cuda, --dataset fashion-mnist|ffhq1024 (image size and hidden dims).

QUANTIZER is one of: lattice, dense-lattice, vq, vq-ema (the paper's), fsq (vector-quantize-pytorch's
FSQ, levels 8,8,8, which needs that package) and bounded-lattice (our bounded lattice, levels 8,8,8,
written out here); the last two project the 64 channels to 3 and back, as ours do.
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.resblock = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1, padding=0, bias=False),
        )

    def forward(self, x):
        return x + self.resblock(x)


def conv_leaky(conv):
    return nn.Sequential(conv, nn.LeakyReLU())


class LatticeQuantizer(nn.Module):
    def __init__(self, dim, codebook_size, sparsity_cost, init_bound, commitment_cost=0.25):
        super().__init__()
        self.embedding = nn.Embedding(1, dim)
        self.embedding.weight.data.uniform_(-init_bound, init_bound)
        self.sparsity_cost = sparsity_cost
        self.commitment_cost = commitment_cost

    def forward(self, inputs):
        inputs = inputs.permute(0, 2, 3, 1).contiguous()
        flat = inputs.view(-1, inputs.shape[-1])
        w = self.embedding.weight
        quantized = (w * torch.round(flat * (1 / w))).view(inputs.shape)
        q_latent = F.mse_loss(quantized, inputs.detach())
        e_latent = F.mse_loss(quantized.detach(), inputs)
        size = -torch.sum(torch.abs(w))
        loss = q_latent + self.commitment_cost * e_latent + self.sparsity_cost * size
        quantized = inputs + (quantized - inputs).detach()
        return loss, quantized.permute(0, 3, 1, 2).contiguous()


class VectorQuantizer(nn.Module):
    def __init__(self, dim, codebook_size, commitment_cost=0.25):
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, dim)
        self.embedding.weight.data.uniform_(-1 / codebook_size, 1 / codebook_size)
        self.commitment_cost = commitment_cost
        self.codebook_size = codebook_size

    def forward(self, inputs):
        inputs = inputs.permute(0, 2, 3, 1).contiguous()
        flat = inputs.view(-1, inputs.shape[-1])
        e = self.embedding.weight
        distances = torch.sum(flat ** 2, dim=1, keepdim=True) + torch.sum(e ** 2, dim=1) - 2 * torch.matmul(flat, e.t())
        indices = torch.argmin(distances, dim=1).unsqueeze(1)
        encodings = torch.zeros(indices.shape[0], self.codebook_size, device=inputs.device)
        encodings.scatter_(1, indices, 1)
        quantized = torch.matmul(encodings, e).view(inputs.shape)
        q_latent = F.mse_loss(quantized, inputs.detach())
        e_latent = F.mse_loss(quantized.detach(), inputs)
        loss = q_latent + self.commitment_cost * e_latent
        quantized = inputs + (quantized - inputs).detach()
        return loss, quantized.permute(0, 3, 1, 2).contiguous()


class VectorQuantizerEma(nn.Module):
    def __init__(self, dim, codebook_size, commitment_cost=0.25, decay=0.99, epsilon=1e-5):
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, dim)
        self.embedding.weight.data.normal_()
        self.register_buffer("ema_cluster_size", torch.zeros(codebook_size))
        self.ema_w = nn.Parameter(torch.Tensor(codebook_size, dim))
        self.ema_w.data.normal_()
        self.codebook_size, self.commitment_cost = codebook_size, commitment_cost
        self.decay, self.epsilon = decay, epsilon

    def forward(self, inputs):
        inputs = inputs.permute(0, 2, 3, 1).contiguous()
        flat = inputs.view(-1, inputs.shape[-1])
        e = self.embedding.weight
        distances = torch.sum(flat ** 2, dim=1, keepdim=True) + torch.sum(e ** 2, dim=1) - 2 * torch.matmul(flat, e.t())
        indices = torch.argmin(distances, dim=1).unsqueeze(1)
        encodings = torch.zeros(indices.shape[0], self.codebook_size, device=inputs.device)
        encodings.scatter_(1, indices, 1)
        quantized = torch.matmul(encodings, e).view(inputs.shape)
        if self.training:
            self.ema_cluster_size = self.ema_cluster_size * self.decay + (1 - self.decay) * torch.sum(encodings, 0)
            n = torch.sum(self.ema_cluster_size.data)
            self.ema_cluster_size = (self.ema_cluster_size + self.epsilon) / (n + self.codebook_size * self.epsilon) * n
            dw = torch.matmul(encodings.t(), flat)
            self.ema_w = nn.Parameter(self.ema_w * self.decay + (1 - self.decay) * dw)
            self.embedding.weight = nn.Parameter(self.ema_w / self.ema_cluster_size.unsqueeze(1))
        e_latent = F.mse_loss(quantized.detach(), inputs)
        loss = self.commitment_cost * e_latent
        quantized = inputs + (quantized - inputs).detach()
        return loss, quantized.permute(0, 3, 1, 2).contiguous()


FINITE_LEVELS = [8, 8, 8]


def fsq_quantizer(dim, levels):
    """vector-quantize-pytorch's FSQ with its default options (imported only when asked for): its
    projections `project_in` / `project_out` are ours, it moves the channels of (B, C, H, W)
    latents last itself, and it has no loss."""
    from vector_quantize_pytorch import FSQ

    class FsqQuantizer(FSQ):
        def forward(self, inputs):
            quantized, _ = super().forward(inputs)
            return quantized.new_zeros(()), quantized

    return FsqQuantizer(levels=levels, dim=dim)


class BoundedLatticeQuantizer(nn.Module):
    """Our bounded lattice with learned steps (no offsets), as lattice-vq's finite layer computes it
    (crates/lattice-vq-candle/src/finite/): rows of the latents' channels, projected D -> d, digits
    k = clamp(round(y / b + (l - 1) / 2), 0, l - 1) held constant, points e = b (k - (l - 1) / 2),
    the LL-VQ losses, the straight-through sg(e) + (y - sg(y)), projected back d -> D. Defaults of
    FiniteQuantizerConfig: beta 0.25, gamma 0, steps starting at 1."""

    def __init__(self, dim, levels, commitment_cost=0.25, sparsity_cost=0.0, initial_step=1.0):
        super().__init__()
        d = len(levels)
        self.project_in = nn.Linear(dim, d)
        self.project_out = nn.Linear(d, dim)
        self.step = nn.Parameter(torch.full((1, d), float(initial_step)))
        top = torch.tensor([[float(l - 1) for l in levels]])
        self.register_buffer("top", top, persistent=False)
        self.register_buffer("centre", top * 0.5, persistent=False)
        self.commitment_cost, self.sparsity_cost = commitment_cost, sparsity_cost

    def forward(self, inputs):
        inputs = inputs.permute(0, 2, 3, 1).contiguous()
        y = self.project_in(inputs.view(-1, inputs.shape[-1]))
        b = self.step
        t = y.detach() * torch.reciprocal(b.detach()) + self.centre
        k = torch.minimum(torch.clamp(torch.round(t), min=0), self.top)
        e = (k - self.centre) * b
        q_latent = F.mse_loss(e, y.detach())
        e_latent = F.mse_loss(e.detach(), y)
        size = -torch.sum(torch.abs(b))
        loss = q_latent + self.commitment_cost * e_latent + self.sparsity_cost * size
        quantized = self.project_out(e.detach() + (y - y.detach()))
        quantized = quantized.view(*inputs.shape[:-1], quantized.shape[-1])
        return loss, quantized.permute(0, 3, 1, 2).contiguous()


class VqVae(nn.Module):
    def __init__(self, quantizer, image_channels, hidden_dims, dim=64):
        super().__init__()
        layers, channels = [], image_channels
        for h in hidden_dims:
            layers.append(conv_leaky(nn.Conv2d(channels, h, 4, stride=2, padding=1)))
            channels = h
        layers += [
            conv_leaky(nn.Conv2d(channels, channels, 3, padding=1)),
            Residual(channels),
            Residual(channels),
            nn.LeakyReLU(),
            conv_leaky(nn.Conv2d(channels, dim, 1)),
        ]
        self._encoder = nn.Sequential(*layers)
        self._quantizer = quantizer
        reversed_dims = list(reversed(hidden_dims))
        layers = [
            conv_leaky(nn.Conv2d(dim, reversed_dims[0], 3, padding=1)),
            Residual(reversed_dims[0]),
            Residual(reversed_dims[0]),
            nn.LeakyReLU(),
        ]
        for a, b in zip(reversed_dims, reversed_dims[1:]):
            layers.append(conv_leaky(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)))
        layers.append(conv_leaky(nn.ConvTranspose2d(reversed_dims[-1], image_channels, 4, stride=2, padding=1)))
        self._decoder = nn.Sequential(*layers)

    def forward(self, x):
        loss, quantized = self._quantizer(self._encoder(x))
        return loss, self._decoder(quantized)


DATASETS = {"fashion-mnist": (1, [64], 28), "ffhq1024": (3, [16, 32], 1024)}


def build(name, dataset, device):
    channels, hidden, _ = DATASETS[dataset]
    if name == "lattice":
        quantizer = LatticeQuantizer(64, 512, 1.0, 1 / (512 ** (1 / 64) - 1))
    elif name == "dense-lattice":
        quantizer = LatticeQuantizer(64, 512, -1.0, 1.0)
    elif name == "vq":
        quantizer = VectorQuantizer(64, 512)
    elif name == "vq-ema":
        quantizer = VectorQuantizerEma(64, 512)
    elif name == "fsq":
        quantizer = fsq_quantizer(64, FINITE_LEVELS)
    elif name in ("bounded-lattice", "bounded_lattice"):
        quantizer = BoundedLatticeQuantizer(64, FINITE_LEVELS)
    else:
        raise SystemExit(f"unknown quantizer {name}")
    model = VqVae(quantizer, channels, hidden).to(device)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def load_safetensors(path):
    """Tensors of a safetensors file (F32 and I64 only), without the safetensors package."""
    import json
    import struct

    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        start, end = info["data_offsets"]
        array = np.frombuffer(data[8 + header_len + start : 8 + header_len + end], dtype=dtype)
        tensors[name] = torch.from_numpy(array.copy()).reshape(info["shape"])
    return tensors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", default="fashion-mnist", choices=sorted(DATASETS))
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    channels, _, side = DATASETS[args.dataset]
    images = torch.rand(args.batch, channels, side, side, device=device) - 0.5
    models = {}
    print("ready", flush=True)
    batches = {}
    for line in sys.stdin:
        name, steps, *init = line.split()
        if name not in models:
            models[name] = build(name, args.dataset, device)
            batches[name] = images
            if init:
                tensors = load_safetensors(init[0])
                batches[name] = tensors.pop("images").to(device)
                model = models[name][0]
                # The finite codebooks' zero `levels.i` buffers only pin the levels' shapes in
                # our checkpoints (QuantizerConfig::tensors); the modules here have none.
                for key in [k for k in tensors if k.startswith("_quantizer.levels.")]:
                    del tensors[key]
                with torch.no_grad():
                    for key, value in model.state_dict().items():
                        value.copy_(tensors.pop(key))
                if tensors:
                    raise SystemExit(f"unexpected tensors in {init[0]}: {sorted(tensors)}")
        model, optimizer = models[name]
        batch = batches[name]
        model.train()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(int(steps)):
            optimizer.zero_grad()
            quantizer_loss, reconstruction = model(batch)
            loss = F.mse_loss(reconstruction, batch) + quantizer_loss
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        print((time.perf_counter() - start) / max(int(steps), 1), flush=True)


if __name__ == "__main__":
    main()
