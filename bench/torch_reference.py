"""PyTorch eager ResNet-50 on the GPU: the ceiling the GPU benchmark (bench/gpu.ts) compares with.

    python3 bench/torch_reference.py --batch 32     prints one JSON line

torchvision's ResNet-50 with random weights (no download), eval mode, under torch.inference_mode;
fp32 and fp16 (model and input in half precision), NCHW and channels_last. Throughput comes from
CUDA-synchronized wall time over `--iters` runs after a warm-up.
"""
import argparse
import json
import time

import torch
import torchvision


def images_per_second(model, x, iters):
    with torch.inference_mode():
        for _ in range(20):
            model(x)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        torch.cuda.synchronize()
    return x.shape[0] * iters / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    result = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "batch": args.batch, "model": "torchvision resnet50, random weights, eager"}
    model = torchvision.models.resnet50(weights=None).cuda().eval()
    x = torch.randn(args.batch, 3, 224, 224, device="cuda")
    result["fp32"] = {"imagesPerSecond": round(images_per_second(model, x, args.iters), 1)}
    half, xh = model.half(), x.half()
    result["fp16"] = {"imagesPerSecond": round(images_per_second(half, xh, args.iters), 1)}
    cl = half.to(memory_format=torch.channels_last)
    result["fp16_channels_last"] = {"imagesPerSecond": round(images_per_second(cl, xh.to(memory_format=torch.channels_last), args.iters), 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
