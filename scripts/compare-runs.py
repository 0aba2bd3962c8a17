"""Compare two folders written by scripts/same-training: the bytes of every safetensors file and
epoch_codes.bin, and metrics.jsonl, result.json and state.json as JSON without times, paths and
metrics_bytes (the metrics file's length grows with how many digits the times print).
Exits 1 if anything differs or is missing."""
import json, sys, filecmp, pathlib
a, b = map(pathlib.Path, sys.argv[1:3])
TIMEY = {"metrics_bytes", "seconds", "train_seconds", "elapsed", "time", "step_seconds", "epoch_seconds", "wall_seconds", "model", "out_dir", "data_dir"}
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in TIMEY and "second" not in k and "time" not in k}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
bad = 0; checked = 0
for run in sorted(p for p in a.iterdir() if p.is_dir()):
    other = b / run.name
    for f in sorted(run.rglob("*")):
        if f.is_dir(): continue
        g = other / f.relative_to(run)
        rel = f"{run.name}/{f.relative_to(run)}"
        if not g.exists():
            print("MISSING", rel); bad += 1; continue
        if f.suffix == ".safetensors" or f.name == "epoch_codes.bin":
            same = filecmp.cmp(f, g, shallow=False)
        elif f.suffix in (".json", ".jsonl"):
            la = [strip(json.loads(l)) for l in f.read_text().splitlines() if l.strip()] if f.suffix == ".jsonl" else [strip(json.loads(f.read_text()))]
            lb = [strip(json.loads(l)) for l in g.read_text().splitlines() if l.strip()] if g.suffix == ".jsonl" else [strip(json.loads(g.read_text()))]
            same = la == lb
        else:
            continue
        checked += 1
        if not same:
            print("DIFFERS", rel); bad += 1
print(f"{checked} files compared, {bad} differences")
sys.exit(1 if bad else 0)
