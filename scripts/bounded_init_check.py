#!/usr/bin/env python3
"""Does the bounded lattice's initial step decide how many codes it uses? Trains the paper's
Fashion-MNIST model built from scripts/pytorch_reference.py's modules (plain PyTorch) for one
epoch (860 steps, batch 64, Adam 1e-3, one thread) and prints the test MSE and distinct test
codes (docs/reproducing.md, "Finite codebooks"):

    . scripts/torch-env && python scripts/bounded_init_check.py bounded 1.0 0
    . scripts/torch-env && python scripts/bounded_init_check.py bounded 0.25 0
    . scripts/torch-env && python scripts/bounded_init_check.py fsq 0 0

Arguments: fsq|bounded, the bounded lattice's initial step (ignored for fsq), the seed.
Needs Debian's dataset-fashion-mnist; fsq needs vector-quantize-pytorch (scripts/test installs it).
"""
import gzip, os, sys, time
import numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_reference as ref

def images(path):
    with gzip.open(path) as f:
        data = np.frombuffer(f.read(), np.uint8, offset=16)
    return torch.from_numpy(data.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.5)

torch.set_num_threads(1)
train = images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")[:55000]
test = images("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
name, init, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(seed)
if name == "fsq":
    q = ref.fsq_quantizer(64, [8, 8, 8])
else:
    q = ref.BoundedLatticeQuantizer(64, [8, 8, 8], initial_step=init)
model = ref.VqVae(q, 1, [64, 64])
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
perm = torch.randperm(55000)
start = time.time()
for step in range(860):
    batch = train[perm[step * 64:(step + 1) * 64]]
    ql, recon = model(batch)
    loss = F.mse_loss(recon, batch) + ql
    opt.zero_grad(); loss.backward(); opt.step()
model.eval()
codes, se = set(), 0.0
with torch.no_grad():
    for i in range(0, 10000, 500):
        x = test[i:i + 500]
        z = model._encoder(x)
        ql, recon = model._quantizer(z)
        se += F.mse_loss(model._decoder(recon), x, reduction="sum").item()
        y = q.project_in(z.permute(0, 2, 3, 1).reshape(-1, 64))
        if name == "fsq":
            k = q.codes_to_indices(q.quantize(y))
        else:
            t = y / q.step + q.centre
            k = torch.minimum(torch.clamp(torch.round(t), min=0), q.top)
            k = (k * torch.tensor([1, 8, 64])).sum(-1)
        codes.update(k.long().tolist())
step_info = "" if name == "fsq" else f" steps {q.step.detach().numpy().round(3).tolist()}"
print(f"{name} init {init} seed {seed}: test mse {se / 10000 / 784:.5f}, codes {len(codes)}{step_info}, {time.time() - start:.0f} s", flush=True)
