#!/usr/bin/env python3
"""The PyTorch reference of packages/models/bench/densenet.bench.ts.

Measures torchvision's densenet121 (random weights, nothing downloaded) on the CPU: eval-mode
forward images/s and training images/s (BCE with logits over 19 classes, SGD with momentum 0.9 and
no weight decay, the same update as the tfjs side), with the number of threads asked for, and prints one JSON line:
{"forward": {...}, "train": {...}, "peakRssBytes": N, "threads": N, "torch": "x.y",
"layout": "NCHW" | "channels_last"}.

Usage: densenet_torch.py --size 224 --forward-batch 8 --train-batch 4 --iterations 3 --threads 2
       [--phase forward|train|both] [--memory-efficient] [--channels-last]

--channels-last puts the model and its inputs in torch.channels_last (NHWC in memory, the layout
tfjs uses), the configuration a performance-aware PyTorch user picks on CPU (oneDNN).
"""

import argparse
import json
import resource
import time

import torch
import torchvision


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--forward-batch", type=int, default=8)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--phase", choices=["forward", "train", "both"], default="both")
    parser.add_argument("--memory-efficient", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = torchvision.models.densenet121(
        num_classes=args.classes, memory_efficient=args.memory_efficient
    )
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "layout": "channels_last" if args.channels_last else "NCHW",
    }

    if args.phase in ("forward", "both"):
        model.eval()
        images = torch.randn(args.forward_batch, 3, args.size, args.size).to(memory_format=layout)

        def forward():
            with torch.inference_mode():
                model(images)

        result["forward"] = timed(forward, args.iterations, args.forward_batch)

    if args.phase in ("train", "both"):
        model.train()
        images = torch.randn(args.train_batch, 3, args.size, args.size).to(memory_format=layout)
        targets = (torch.rand(args.train_batch, args.classes) < 0.2).float()
        # No weight decay: the tfjs side (@medfm/models sgd) has none, so both do the same work.
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
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
