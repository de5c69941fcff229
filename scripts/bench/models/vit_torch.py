#!/usr/bin/env python3
"""The PyTorch reference of packages/models/bench/vit.bench.ts.

Measures timm's VisionTransformer (random weights, nothing downloaded) on the CPU: eval-mode
forward images/s, and visual prompt tuning (VPT, Jia et al. 2022) training images/s: the backbone
frozen, N learnable prompt tokens inserted after the CLS token (at the first layer, or at every
layer with --deep), a linear head, BCE with logits over 19 classes, SGD with momentum 0.9 on the
prompts and the head only. Prints one JSON line:
{"forward": {...}, "train": {...}, "peakRssBytes": N, "threads": N, "torch": "x.y",
"timm": "x.y", "model": "..."}.

Needs a python with torch and timm: scripts/fixtures/models/install-timm.sh's venv, or
.venv-bench (scripts/bench/install-torch.sh) with `pip install timm`.

Usage: vit_torch.py --model vit_small_patch16_224 --size 224 --forward-batch 8 --train-batch 8
       --iterations 3 --threads 2 [--prompts 10] [--deep] [--phase forward|train|both]
"""

import argparse
import json
import resource
import time

import timm
import torch


def timed(step, iterations, batch):
    step()  # warm-up: first-call allocations and kernel selection
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    seconds = (time.perf_counter() - start) / iterations
    return {
        "batch": batch,
        "secondsPerBatch": seconds,
        "imagesPerSecond": batch / seconds,
        "cpuSecondsPerBatch": (time.process_time() - cpu) / iterations,
    }


class PromptedViT(torch.nn.Module):
    """A frozen timm ViT with VPT prompt tokens after the CLS (and register) tokens."""

    def __init__(self, vit, prompts, deep, classes):
        super().__init__()
        self.vit = vit
        for parameter in vit.parameters():
            parameter.requires_grad_(False)
        layers = len(vit.blocks) if deep else 1
        width = vit.embed_dim
        self.prompts = torch.nn.Parameter(torch.zeros(layers, prompts, width).uniform_(-0.1, 0.1))
        self.head = torch.nn.Linear(width, classes)
        self.prefix = vit.num_prefix_tokens

    def forward(self, images):
        vit = self.vit
        x = vit.patch_embed(images)
        x = vit._pos_embed(x)
        x = vit.norm_pre(x)
        batch = x.shape[0]
        count = self.prompts.shape[1]
        for index, block in enumerate(vit.blocks):
            if index < self.prompts.shape[0]:
                prompts = self.prompts[index].unsqueeze(0).expand(batch, -1, -1)
                rest = x[:, self.prefix :] if index == 0 else x[:, self.prefix + count :]
                x = torch.cat([x[:, : self.prefix], prompts, rest], dim=1)
            x = block(x)
        x = vit.norm(x)
        return self.head(x[:, 0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_small_patch16_224")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--forward-batch", type=int, default=8)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--deep", action="store_true")
    parser.add_argument("--phase", choices=["forward", "train", "both"], default="both")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    vit = timm.create_model(args.model, pretrained=False, num_classes=0, img_size=args.size)
    result = {
        "torch": torch.__version__,
        "timm": timm.__version__,
        "threads": torch.get_num_threads(),
        "model": args.model,
    }

    if args.phase in ("forward", "both"):
        vit.eval()
        images = torch.randn(args.forward_batch, 3, args.size, args.size)

        def forward():
            with torch.inference_mode():
                vit(images)

        result["forward"] = timed(forward, args.iterations, args.forward_batch)

    if args.phase in ("train", "both"):
        model = PromptedViT(vit, args.prompts, args.deep, args.classes)
        # The frozen backbone runs in eval mode (no dropout, no drop path), as VPT trains it.
        model.eval()
        images = torch.randn(args.train_batch, 3, args.size, args.size)
        targets = (torch.rand(args.train_batch, args.classes) < 0.2).float()
        trainable = [model.prompts, *model.head.parameters()]
        optimizer = torch.optim.SGD(trainable, lr=0.001, momentum=0.9)
        loss_function = torch.nn.BCEWithLogitsLoss()

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(images), targets)
            loss.backward()
            optimizer.step()

        result["train"] = timed(train_step, args.iterations, args.train_batch)

    # ru_maxrss is in kilobytes on Linux.
    result["peakRssBytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
