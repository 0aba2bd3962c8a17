#!/usr/bin/env python3
"""vector-quantize-pytorch's FSQ (default options) on latents sent by the peer-parity test
(crates/lattice-vq-core/tests/fsq_peer.rs), one request per line on stdin:

    <levels, comma-separated> <rows> <f32 bit patterns of the (rows, D) latents, hex, row-major>

and one answer line per request on stdout:

    <f32 bits of FSQ's quantized output (rows, D)> | <token indices (rows,)> | <f32 bits of the bound before rounding>

Bits travel as hex so that no value is rounded on the way.
"""
import sys

import numpy as np
import torch
from vector_quantize_pytorch import FSQ


def hex_to_f32(words):
    return np.array([int(w, 16) for w in words], dtype=np.uint32).view(np.float32)


def f32_to_hex(values):
    return " ".join(f"{b:08x}" for b in np.ascontiguousarray(values, dtype=np.float32).view(np.uint32))


def main():
    torch.set_num_threads(1)
    print("ready", flush=True)
    for line in sys.stdin:
        fields = line.split()
        if not fields:
            continue
        levels = [int(l) for l in fields[0].split(",")]
        rows = int(fields[1])
        latents = torch.from_numpy(hex_to_f32(fields[2:]).reshape(1, rows, len(levels)).copy())
        fsq = FSQ(levels=levels)
        with torch.no_grad():
            quantized, indices = fsq(latents)
            half_l = (fsq._levels - 1) * (1 + 1e-3) / 2
            offset = torch.where(fsq._levels % 2 == 0, 0.5, 0.0)
            shift = torch.atanh(offset / half_l)
            unrounded = torch.tanh(latents + shift) * half_l - offset
        print(
            f32_to_hex(quantized.reshape(-1).numpy()),
            "|",
            " ".join(str(int(i)) for i in indices.reshape(-1)),
            "|",
            f32_to_hex(unrounded.reshape(-1).numpy()),
            flush=True,
        )


if __name__ == "__main__":
    main()
