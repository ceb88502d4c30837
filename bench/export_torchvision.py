"""torchvision models exported to ONNX by PyTorch itself, for an external-model comparison in bench/cpu.ts.

    /usr/bin/python3 bench/export_torchvision.py [--opset 17] [--legacy]      (Debian: apt-get install python3-torch python3-torchvision)

Writes bench/results/torchvision-<name>.onnx for resnet18 and mobilenet_v3_small, random weights
(torch.manual_seed(0), no download), eval mode, input `pixel_values` [batch, 3, height, width] and
output `logits` [batch, 1000] with symbolic batch, height and width. --legacy exports as older
exporters did: opset 11 unless --opset says otherwise, no constant folding (BatchNormalization kept)
and initializers listed as graph inputs; the files are then named torchvision-<name>-legacy.onnx.
Then: node dist/bench/cpu.js tv-resnet18:1 tv-mobilenet_v3_small:1
"""
import argparse
import os

import torch
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--opset', type=int)
    parser.add_argument('--legacy', action='store_true')
    args = parser.parse_args()
    opset = args.opset or (11 if args.legacy else 17)
    os.makedirs(OUT, exist_ok=True)
    for name in ['resnet18', 'mobilenet_v3_small']:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        suffix = '-legacy' if args.legacy else ''
        path = os.path.join(OUT, f'torchvision-{name}{suffix}.onnx')
        torch.onnx.export(
            model,
            torch.randn(1, 3, 224, 224),
            path,
            input_names=['pixel_values'],
            output_names=['logits'],
            dynamic_axes={'pixel_values': {0: 'batch', 2: 'height', 3: 'width'}, 'logits': {0: 'batch'}},
            opset_version=opset,
            do_constant_folding=not args.legacy,
            keep_initializers_as_inputs=args.legacy,
            training=torch.onnx.TrainingMode.PRESERVE if args.legacy else torch.onnx.TrainingMode.EVAL,
        )
        print(f'{path}: opset {opset}, {os.path.getsize(path) / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
