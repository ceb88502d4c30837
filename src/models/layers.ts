import { GraphBuilder, seededRandom } from '../onnx/builder';

/**
 * Building blocks shared by the model generators. Each helper adds a few nodes to a graph under
 * construction and returns the name of the tensor it produced.
 *
 * Weights come from `b.randomWeight` (seeded by the builder); normalization parameters, which must sit
 * near 1 / 0 rather than around 0, come from `net.rng`, a second stream seeded from the same seed.
 */
export interface Net {
  b: GraphBuilder;
  rng: () => number;
}

/** `opset` 17 unless given; the conv generators use only ops whose form is the same from opset 11 on. */
export function newNet(name: string, seed: number, opset = 17): Net {
  const b = new GraphBuilder(name, { opset, seed });
  // A different stream than the builder's, so the two never hand out the same numbers.
  return { b, rng: seededRandom((seed * 2654435761 + 0x9e3779b9) >>> 0) };
}

/** `n` numbers uniform in [lo, hi) from the net's second random stream. */
export function uniformArray(net: Net, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * net.rng();
  return out;
}

/** A float32 initializer of shape `dims` with values uniform in [lo, hi). */
export function uniformParam(net: Net, name: string, dims: number[], lo: number, hi: number): string {
  const n = dims.reduce((p, d) => p * d, 1);
  return net.b.initializer(name, uniformArray(net, n, lo, hi), dims, 'float32');
}

/** Names of the initializers each graph under construction shares between nodes. */
const sharedNames = new WeakMap<GraphBuilder, Set<string>>();

/** A float32 initializer several nodes read (e.g. Clip bounds): created on first use, then reused. */
export function sharedInitializer(b: GraphBuilder, name: string, values: number[], dims: number[]): string {
  let names = sharedNames.get(b);
  if (!names) sharedNames.set(b, (names = new Set()));
  if (!names.has(name)) {
    names.add(name);
    b.initializer(name, Float32Array.from(values), dims, 'float32');
  }
  return name;
}

export function int64s(b: GraphBuilder, name: string, values: number[]): string {
  return b.constant(name, BigInt64Array.from(values, (v) => BigInt(v)), [values.length], 'int64');
}

export function scalar(b: GraphBuilder, name: string, value: number): string {
  return b.constant(name, new Float32Array([value]), [], 'float32');
}

/**
 * y = x @ W + bias, W [inFeatures, outFeatures], as PyTorch exports nn.Linear on 3-D inputs
 * (MatMul + Add, which the optimizers know how to fuse). Uniform ±gain/sqrt(fan_in) keeps the output
 * variance at gain²/3 of the input's.
 */
export function linear(net: Net, x: string, name: string, inFeatures: number, outFeatures: number, gain = 1): string {
  const w = net.b.randomWeight(`${name}.weight`, [inFeatures, outFeatures], gain / Math.sqrt(inFeatures));
  const bias = net.b.randomWeight(`${name}.bias`, [outFeatures], 0.02);
  return net.b.op('Add', [net.b.op('MatMul', [x, w]), bias]);
}

/**
 * LayerNormalization over the last axis, with gamma near 1 and beta near 0 as in a trained model.
 * `output` names the result tensor (for a graph output); otherwise the builder picks a name.
 */
export function layerNorm(net: Net, x: string, name: string, dim: number, output?: string): string {
  const gamma = uniformParam(net, `${name}.weight`, [dim], 0.9, 1.1);
  const beta = uniformParam(net, `${name}.bias`, [dim], -0.05, 0.05);
  const attributes = { axis: -1, epsilon: 1e-12 };
  return net.b.node('LayerNormalization', [x, gamma, beta], attributes, output ? { outputs: [output] } : undefined)[0];
}

/**
 * Exact GELU, 0.5·x·(1 + erf(x/√2)); opset 17 has no Gelu op. The node order is the one PyTorch
 * exports, which onnxruntime's GeluFusion recognizes.
 */
export function gelu(b: GraphBuilder, x: string, name: string): string {
  const erf = b.op('Erf', [b.op('Div', [x, scalar(b, `${name}.sqrt2`, Math.SQRT2)])]);
  const onePlus = b.op('Add', [erf, scalar(b, `${name}.one`, 1)]);
  return b.op('Mul', [b.op('Mul', [x, onePlus]), scalar(b, `${name}.half`, 0.5)]);
}

/** SiLU / swish, x·sigmoid(x), as exported (opset 17 has no op for it either). */
export function silu(b: GraphBuilder, x: string): string {
  return b.op('Mul', [x, b.op('Sigmoid', [x])]);
}

/** Conv2d with "same" padding for odd kernels. He-uniform by default, for convs followed by ReLU/SiLU. */
export function conv2d(
  net: Net,
  x: string,
  name: string,
  cin: number,
  cout: number,
  kernel: number,
  options: { stride?: number; bias?: boolean; gain?: number } = {},
): string {
  const { stride = 1, bias = false, gain = Math.SQRT2 } = options;
  const fanIn = cin * kernel * kernel;
  // Uniform ±a has variance a²/3: a = gain·√(3/fan_in) gives output variance gain²·E[x²].
  const w = net.b.randomWeight(`${name}.weight`, [cout, cin, kernel, kernel], gain * Math.sqrt(3 / fanIn));
  const inputs = [x, w];
  if (bias) inputs.push(net.b.randomWeight(`${name}.bias`, [cout], 0.02));
  const pad = (kernel - 1) >> 1;
  return net.b.op('Conv', inputs, {
    kernel_shape: [kernel, kernel],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
  });
}

/**
 * Inference BatchNormalization with running statistics near identity (like a trained net's),
 * so the node computes something non-trivial while activations stay O(1).
 */
export function batchNorm(net: Net, x: string, name: string, channels: number, gammaScale = 1): string {
  const { b } = net;
  // Scaled after the draw, in float32, so not a uniformParam.
  const gamma = uniformArray(net, channels, 0.8, 1.0).map((g) => g * gammaScale);
  const param = (suffix: string, lo: number, hi: number): string => uniformParam(net, `${name}.${suffix}`, [channels], lo, hi);
  return b.op(
    'BatchNormalization',
    [
      x,
      b.initializer(`${name}.weight`, gamma, [channels], 'float32'),
      param('bias', -0.1, 0.1),
      param('running_mean', -0.1, 0.1),
      param('running_var', 0.8, 1.2),
    ],
    { epsilon: 1e-5 },
  );
}
