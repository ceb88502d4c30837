import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/builder';

/** A two-layer MLP with a symbolic batch axis: x [batch, inputs] -> y [batch, outputs]. */
export function mlpModel(options: { seed?: number; inputs?: number; hidden?: number; outputs?: number; scale?: number } = {}): Uint8Array {
  const { seed = 1, inputs = 16, hidden = 32, outputs = 8, scale = 0.3 } = options;
  const b = new GraphBuilder('mlp', { seed });
  const x = b.input('x', 'float32', ['batch', inputs]);
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.randomWeight('w1', [inputs, hidden], scale)]), b.randomWeight('b1', [hidden], scale)])]);
  const y = b.op('MatMul', [h, b.randomWeight('w2', [hidden, outputs], scale)]);
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', outputs]);
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

/** Fast profiling so the suite stays quick on a 2-core machine; figures are not what these tests check. */
export const quickProfiling = { windowMs: 5, stableWindows: 2, maxWindows: 3 };

export const quiet = { verbose: false, profiling: quickProfiling };
