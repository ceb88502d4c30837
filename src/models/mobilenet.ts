import { Net, batchNorm, conv2d, newNet, sharedInitializer, uniformParam } from './layers';

/**
 * MobileNetV2-shaped image classifier, the second convolutional family beside the ResNets: a 3x3/2
 * conv stem, inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 linear projection, residual
 * when shapes allow), a 1x1 conv to `lastChannels`, GlobalAveragePool, Flatten + Gemm. Convs are
 * followed by unfolded BatchNormalization and ReLU6 as Clip(0, 6), as PyTorch exports them;
 * `squeezeExcite` adds MobileNetV3's SE gate (GlobalAveragePool, 1x1 convs, HardSigmoid, Mul) to the
 * blocks that expand. Only ops whose form is the same from opset 11 on, so `opset: 11` works too.
 *
 * Input `pixel_values` float32 [batch, 3, height, width] (symbolic unless `imageSize` fixes it) →
 * `logits` float32 [batch, classes].
 */
export interface MobileNetOptions {
  /** Channel multiplier of every layer (channels rounded to a multiple of 8). */
  widthMultiplier: number;
  /** [expansion t, channels c, blocks n, stride s] per stage, as in the MobileNetV2 paper. */
  stages: readonly (readonly [number, number, number, number])[];
  stemChannels: number;
  lastChannels: number;
  squeezeExcite: boolean;
  /** A fixed square input size, or null for symbolic height and width. */
  imageSize: number | null;
  classes: number;
  opset: number;
  seed: number;
  name: string;
}

/** torchvision's mobilenet_v2 settings (3.5M parameters at width 1). */
export const MOBILENET_V2_STAGES: MobileNetOptions['stages'] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export const MOBILENET_DEFAULTS: MobileNetOptions = {
  widthMultiplier: 1,
  stages: MOBILENET_V2_STAGES,
  stemChannels: 32,
  lastChannels: 1280,
  squeezeExcite: false,
  imageSize: null,
  classes: 1000,
  opset: 17,
  seed: 0,
  name: 'mobilenet',
};

/** Gamma of the BN after each projection that feeds a residual Add (keeps the stream O(1)). */
const PROJECTION_GAMMA = 0.3;

/** Channels times the multiplier, rounded to a multiple of 8 and never 10% below (torchvision's _make_divisible). */
export function divisible(channels: number, multiplier: number): number {
  const v = channels * multiplier;
  const rounded = Math.max(8, Math.floor(v / 8 + 0.5) * 8);
  return rounded < 0.9 * v ? rounded + 8 : rounded;
}

/** ReLU6 as exported: Clip with min/max inputs shared by every node of the net. */
function relu6(net: Net, x: string): string {
  const { b } = net;
  return b.op('Clip', [x, sharedInitializer(b, 'relu6.min', [0], []), sharedInitializer(b, 'relu6.max', [6], [])]);
}

/** Depthwise 3x3 conv (group = channels), no bias: the BN after it has one. */
function depthwise(net: Net, x: string, name: string, channels: number, stride: number): string {
  const w = net.b.randomWeight(`${name}.weight`, [channels, 1, 3, 3], Math.SQRT2 * Math.sqrt(3 / 9));
  return net.b.op('Conv', [x, w], { group: channels, kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1] });
}

/** conv (kernel k, stride s) + BN + optional ReLU6. */
export function convBnRelu6(net: Net, x: string, name: string, cin: number, cout: number, kernel: number, stride = 1, activation = true): string {
  const y = batchNorm(net, conv2d(net, x, `${name}.conv`, cin, cout, kernel, { stride }), `${name}.bn`, cout);
  return activation ? relu6(net, y) : y;
}

/** x · HardSigmoid(W2 · relu(W1 · avgpool(x) + b1) + b2): MobileNetV3's squeeze-and-excite gate. */
function squeezeExcite(net: Net, x: string, name: string, channels: number): string {
  const { b } = net;
  const squeezed = divisible(channels / 4, 1);
  const pooled = b.op('GlobalAveragePool', [x]);
  const h = b.op('Relu', [conv2d(net, pooled, `${name}.fc1`, channels, squeezed, 1, { bias: true })]);
  const gate = b.op('HardSigmoid', [conv2d(net, h, `${name}.fc2`, squeezed, channels, 1, { bias: true, gain: 1 })], { alpha: 1 / 6, beta: 0.5 });
  return b.op('Mul', [x, gate]);
}

/** One inverted residual block: expand (unless t = 1), depthwise, [SE], project, + x when shapes match. */
function invertedResidual(net: Net, x: string, name: string, cin: number, cout: number, expansion: number, stride: number, se: boolean): string {
  const hidden = cin * expansion;
  let h = expansion === 1 ? x : convBnRelu6(net, x, `${name}.expand`, cin, hidden, 1);
  h = relu6(net, batchNorm(net, depthwise(net, h, `${name}.dw`, hidden, stride), `${name}.dw.bn`, hidden));
  if (se && expansion !== 1) h = squeezeExcite(net, h, `${name}.se`, hidden);
  const residual = stride === 1 && cin === cout;
  const projected = conv2d(net, h, `${name}.project.conv`, hidden, cout, 1, { gain: 1 });
  const y = batchNorm(net, projected, `${name}.project.bn`, cout, residual ? PROJECTION_GAMMA : 1);
  return residual ? net.b.op('Add', [x, y]) : y;
}

/** A feature map of the backbone and its stride and channels. */
export interface FeatureMap {
  tensor: string;
  stride: number;
  channels: number;
}

/**
 * The stem and the inverted residual stages; returns the last feature map of every stride, in
 * order (stride 2, 4, 8, 16, 32), for heads that read several (detectors) or only the last.
 */
export function mobileNetBackbone(net: Net, input: string, o: Pick<MobileNetOptions, 'widthMultiplier' | 'stages' | 'stemChannels' | 'squeezeExcite'>): FeatureMap[] {
  let channels = divisible(o.stemChannels, o.widthMultiplier);
  let x = convBnRelu6(net, input, 'stem', 3, channels, 3, 2);
  let stride = 2;
  const maps: FeatureMap[] = [];
  o.stages.forEach(([t, c, n, s], stage) => {
    const cout = divisible(c, o.widthMultiplier);
    if (s > 1) maps.push({ tensor: x, stride, channels });
    for (let i = 0; i < n; i++) {
      x = invertedResidual(net, x, `features.${stage + 1}.${i}`, channels, cout, t, i === 0 ? s : 1, o.squeezeExcite);
      channels = cout;
    }
    stride *= s;
  });
  maps.push({ tensor: x, stride, channels });
  return maps;
}

export function buildMobileNet(options: Partial<MobileNetOptions> = {}): Uint8Array {
  const o: MobileNetOptions = { ...MOBILENET_DEFAULTS, ...options };
  const net = newNet(o.name, o.seed, o.opset);
  const { b } = net;
  const size = o.imageSize === null ? ['height', 'width'] : [o.imageSize, o.imageSize];
  const input = b.input('pixel_values', 'float32', ['batch', 3, ...size]);
  const last = mobileNetBackbone(net, input, o).pop()!;
  const lastChannels = o.widthMultiplier > 1 ? divisible(o.lastChannels, o.widthMultiplier) : o.lastChannels;
  const features = convBnRelu6(net, last.tensor, 'features.last', last.channels, lastChannels, 1);
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [features])], { axis: 1 });
  const bound = 1 / Math.sqrt(lastChannels);
  const w = b.randomWeight('classifier.weight', [o.classes, lastChannels], bound);
  const bias = uniformParam(net, 'classifier.bias', [o.classes], -0.1, 0.1);
  b.node('Gemm', [pooled, w, bias], { transB: 1 }, { outputs: ['logits'] });
  b.output('logits', 'float32', ['batch', o.classes]);
  return b.toBytes();
}

/** torchvision mobilenet_v2 shapes (width 1, 1000 classes), random weights; symbolic image size. */
export function mobileNetV2(options: Partial<Pick<MobileNetOptions, 'seed' | 'classes' | 'imageSize' | 'opset' | 'squeezeExcite'>> = {}): Uint8Array {
  return buildMobileNet({ ...options, name: 'mobilenet_v2' });
}
