"""Writes the hub configuration fixtures of hub-preprocessing.test.ts.

Needs Python with timm and transformers (no network: timm's pretrained_cfg comes from its
model registry, transformers' processors from their class defaults plus the published
settings of each checkpoint):
    pip install timm transformers torch
    python packages/models/src/hub/__fixtures__/make-hub-configs.py
(here: /work/venvs/torch2/bin/python).
"""
import json
import os
import tempfile

import timm
from timm.models._hub import save_config_for_hf
from transformers import BitImageProcessor, CLIPImageProcessor, ViTImageProcessor

here = os.path.dirname(os.path.abspath(__file__))


def write(name, payload):
    with open(os.path.join(here, name), "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")


# timm: config.json as timm.s push_to_hf_hub writes it (save_config_for_hf), from the model registry.
for name in ["vit_small_patch16_224.augreg_in21k", "swin_tiny_patch4_window7_224.ms_in1k"]:
    model = timm.create_model(name, pretrained=False)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "config.json")
        save_config_for_hf(model, path)
        with open(path) as f:
            write(f"timm-{name.split('.')[0]}.config.json", json.load(f))

# transformers: image processors configured as the named checkpoints publish them.
processors = {
    # google/vit-base-patch16-224-in21k: ViTImageProcessor, 224x224, mean/std 0.5, bilinear.
    "vit-base-patch16-224-in21k": ViTImageProcessor(
        size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=2
    ),
    # facebook/dinov2-small: BitImageProcessor, short side 256, centre crop 224, ImageNet mean/std.
    "dinov2-small": BitImageProcessor(
        size={"shortest_edge": 256},
        crop_size={"height": 224, "width": 224},
        do_center_crop=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        resample=3,
        do_convert_rgb=True,
    ),
    # openai/clip-vit-base-patch16: short side 224, centre crop 224, OpenAI CLIP mean/std.
    "clip-vit-base-patch16": CLIPImageProcessor(),
}
for name, processor in processors.items():
    with tempfile.TemporaryDirectory() as folder:
        processor.save_pretrained(folder)
        with open(os.path.join(folder, "preprocessor_config.json")) as f:
            write(f"transformers-{name}.preprocessor_config.json", json.load(f))
