import { Net, batchNorm, conv2d, newNet } from './layers';

/**
 * ResNet-shaped image classifier: conv 7x7/2 + BN + ReLU + maxpool stem, stages of basic or bottleneck
 * residual blocks (stride 2 on the 3x3 conv, as in ResNet v1.5), global average pool, Flatten + Gemm.
 * BatchNormalization nodes are kept (inference mode), as an unoptimized export has them.
 *
 * Input `pixel_values` float32 [batch, 3, imageSize, imageSize] → output `logits` float32 [batch, classes].
 */
export interface ResNetOptions {
  /** Blocks per stage; stage i has width baseWidth·2^i and (except the first) starts with stride 2. */
  blocks: number[];
  baseWidth: number;
  /** Bottleneck blocks (1x1 → 3x3 → 1x1, 4x expansion) as in ResNet-50+, else basic blocks (3x3 → 3x3). */
  bottleneck: boolean;
  imageSize: number;
  /** Symbolic `height` / `width` input axes (any size runs; global pooling ends the net). Default false. */
  dynamicSize: boolean;
  classes: number;
  seed: number;
  name: string;
}

export const RESNET_DEFAULTS: ResNetOptions = {
  blocks: [3, 4, 6, 3],
  baseWidth: 64,
  bottleneck: true,
  imageSize: 224,
  dynamicSize: false,
  classes: 1000,
  seed: 0,
  name: 'resnet',
};

/**
 * Gamma of the BN closing each residual branch. Trained ResNets have small ones there; with 1 the
 * residual stream's variance would double at every block and explode over ResNet-50's 16 blocks.
 */
const RESIDUAL_BRANCH_GAMMA = 0.3;

function convBn(net: Net, x: string, name: string, cin: number, cout: number, kernel: number, stride = 1, gammaScale = 1): string {
  const y = conv2d(net, x, `${name}.conv`, cin, cout, kernel, { stride });
  return batchNorm(net, y, `${name}.bn`, cout, gammaScale);
}

function convBnRelu(net: Net, x: string, name: string, cin: number, cout: number, kernel: number, stride = 1): string {
  return net.b.op('Relu', [convBn(net, x, name, cin, cout, kernel, stride)]);
}

/** Identity shortcut when shapes match, else 1x1 conv (strided) + BN, as torchvision's `downsample`. */
function shortcut(net: Net, x: string, name: string, cin: number, cout: number, stride: number): string {
  if (stride === 1 && cin === cout) return x;
  return convBn(net, x, `${name}.downsample`, cin, cout, 1, stride);
}

/** One residual block; returns the output tensor and its channel count. */
function residualBlock(
  net: Net,
  x: string,
  name: string,
  cin: number,
  width: number,
  stride: number,
  bottleneck: boolean,
): { y: string; channels: number } {
  let h: string;
  let cout: number;
  if (bottleneck) {
    cout = width * 4;
    h = convBnRelu(net, x, `${name}.1`, cin, width, 1);
    h = convBnRelu(net, h, `${name}.2`, width, width, 3, stride);
    h = convBn(net, h, `${name}.3`, width, cout, 1, 1, RESIDUAL_BRANCH_GAMMA);
  } else {
    cout = width;
    h = convBnRelu(net, x, `${name}.1`, cin, width, 3, stride);
    h = convBn(net, h, `${name}.2`, width, width, 3, 1, RESIDUAL_BRANCH_GAMMA);
  }
  const sum = net.b.op('Add', [h, shortcut(net, x, name, cin, cout, stride)]);
  return { y: net.b.op('Relu', [sum]), channels: cout };
}

/** conv 7x7/2 + BN + ReLU + maxpool 3x3/2: a quarter of the resolution before the first stage. */
function stem(net: Net, x: string, width: number): string {
  const h = convBnRelu(net, x, 'stem', 3, width, 7, 2);
  return net.b.op('MaxPool', [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
}

/** Global average pool + Flatten + Gemm (transB, as PyTorch exports nn.Linear on 2-D inputs). */
function classifier(net: Net, x: string, channels: number, classes: number, output: string): string {
  const { b } = net;
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [x])], { axis: 1 });
  const bound = 1 / Math.sqrt(channels);
  const w = b.randomWeight('fc.weight', [classes, channels], bound);
  const bias = b.randomWeight('fc.bias', [classes], bound);
  return b.node('Gemm', [pooled, w, bias], { transB: 1 }, { outputs: [output] })[0];
}

export function buildResNet(options: Partial<ResNetOptions> = {}): Uint8Array {
  const o: ResNetOptions = { ...RESNET_DEFAULTS, ...options };
  const net = newNet(o.name, o.seed);
  const { b } = net;
  const size = o.dynamicSize ? ['height', 'width'] : [o.imageSize, o.imageSize];
  const input = b.input('pixel_values', 'float32', ['batch', 3, ...size]);
  let x = stem(net, input, o.baseWidth);
  let channels = o.baseWidth;
  o.blocks.forEach((count, stage) => {
    const width = o.baseWidth * 2 ** stage;
    for (let i = 0; i < count; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const block = residualBlock(net, x, `layer${stage + 1}.${i}`, channels, width, stride, o.bottleneck);
      x = block.y;
      channels = block.channels;
    }
  });
  classifier(net, x, channels, o.classes, 'logits');
  b.output('logits', 'float32', ['batch', o.classes]);
  return b.toBytes();
}

/** Real ResNet-50 shapes: bottlenecks [3, 4, 6, 3], width 64, 224x224, 1000 classes (~25.6M params). */
export function resnet50(options: Partial<Pick<ResNetOptions, 'seed' | 'classes' | 'imageSize' | 'dynamicSize'>> = {}): Uint8Array {
  return buildResNet({ ...options, blocks: [3, 4, 6, 3], baseWidth: 64, bottleneck: true, name: 'resnet50' });
}

/** A few-kilobyte ResNet for samples and tests: basic blocks [1, 1], width 8, 32x32, 10 classes. */
export function tinyResNet(options: Partial<ResNetOptions> = {}): Uint8Array {
  return buildResNet({ blocks: [1, 1], baseWidth: 8, bottleneck: false, imageSize: 32, classes: 10, name: 'tiny_resnet', ...options });
}
