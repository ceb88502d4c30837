import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/builder';

export interface MlpOptions {
  seed?: number;
  inputs?: number;
  hidden?: number;
  outputs?: number;
  scale?: number;
  /** The graph's name. @default 'mlp' */
  name?: string;
}

/**
 * The graph of mlpModel without its output: x [batch, inputs] -> relu(x·w1 + b1)·w2 = y. Models that
 * extend it (a scaled or a slower copy) get the same weights for the same seed, since the builder's
 * seeded generator is drawn in the same order.
 */
export function mlpGraph(options: MlpOptions = {}): { b: GraphBuilder; x: string; y: string } {
  const { seed = 1, inputs = 16, hidden = 32, outputs = 8, scale = 0.3, name = 'mlp' } = options;
  const b = new GraphBuilder(name, { seed });
  const x = b.input('x', 'float32', ['batch', inputs]);
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.randomWeight('w1', [inputs, hidden], scale)]), b.randomWeight('b1', [hidden], scale)])]);
  const y = b.op('MatMul', [h, b.randomWeight('w2', [hidden, outputs], scale)]);
  return { b, x, y };
}

/** A two-layer MLP with a symbolic batch axis: x [batch, inputs] -> y [batch, outputs]. */
export function mlpModel(options: MlpOptions = {}): Uint8Array {
  const { b, y } = mlpGraph(options);
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', options.outputs ?? 8]);
  return b.toBytes();
}

/** A model over a sequence axis too: x [batch, seq, 8] -> y [batch, seq, 8]. */
export function sequenceModel(seed = 3): Uint8Array {
  const b = new GraphBuilder('seq', { seed });
  const x = b.input('x', 'float32', ['batch', 'seq', 8]);
  const y = b.op('Tanh', [b.op('MatMul', [x, b.randomWeight('w', [8, 8], 0.5)])]);
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 'seq', 8]);
  return b.toBytes();
}

export function tempDir(prefix = 'nav-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Deterministic input rows: row r, column c = sin(r * 31 + c). */
export function rows(batch: number, width: number, offset = 0): Tensor {
  return new Tensor('float32', Float32Array.from({ length: batch * width }, (_, i) => Math.sin(i + offset * 31)), [batch, width]);
}

/** Runs a model (a file or its bytes) once in a fresh onnxruntime session, then releases the session. */
export async function runModel(model: string | Uint8Array, feeds: Record<string, Tensor>, options: InferenceSession.SessionOptions = {}): Promise<Record<string, Tensor>> {
  // The two overloads (path, bytes) of create() do not accept the union in one call.
  const session = typeof model === 'string' ? await InferenceSession.create(model, options) : await InferenceSession.create(model, options);
  try {
    return (await session.run(feeds)) as Record<string, Tensor>;
  } finally {
    await session.release();
  }
}

/** A small LCG, so inputs are deterministic without depending on the code under test; uniform in [0, 1). */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** float32 values uniform in [-scale, scale), drawn from lcg(seed). */
export function randomFloats(dims: number[], seed: number, scale = 1): Tensor {
  const next = lcg(seed);
  const n = dims.reduce((p, d) => p * d, 1);
  return new Tensor('float32', Float32Array.from({ length: n }, () => (next() * 2 - 1) * scale), dims);
}

/** Fast profiling so the suite stays quick on a 2-core machine; figures are not what these tests check. */
export const quickProfiling = { windowMs: 5, stableWindows: 2, maxWindows: 3 };

export const quiet = { verbose: false, profiling: quickProfiling };
