import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../../src';
import type { Feeds } from '../../src';
import { GraphBuilder } from '../../src/onnx/builder';
import { unseenShapeFeeds } from '../../src/optimizer/unseen-shapes';
import { registerTestFormat, registerTestRunner } from '../helpers/formats';
import { quiet, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('nav-noise-');

/** x [batch, seq, 8] -> tanh(x W); with `heavy`, plus a large branch multiplied by zero: the same outputs, many times slower. */
function sequenceModel(heavy: boolean): Uint8Array {
  const b = new GraphBuilder('seq', { seed: 71 });
  const x = b.input('x', 'float32', ['batch', 'seq', 8]);
  let y = b.op('Tanh', [b.op('MatMul', [x, b.randomWeight('w', [8, 8], 0.5)])]);
  if (heavy) {
    let wide = b.op('MatMul', [x, b.randomWeight('wide_in', [8, 512], 0.05)]);
    for (let i = 0; i < 4; i++) wide = b.op('Tanh', [b.op('MatMul', [wide, b.randomWeight(`wide_${i}`, [512, 512], 0.05)])]);
    y = b.op('Add', [y, b.op('Mul', [b.op('ReduceMean', [wide], { axes: [2], keepdims: 1 }), b.constant('zero', new Float32Array([0]), [])])]);
  }
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 'seq', 8]);
  return b.toBytes();
}

const CAPTURED_LENGTHS = [4, 12];

/**
 * A runner of the lean model (a "converted" format) whose sessions call `beforeRun` with each call's
 * length and the session's own token first: how each test runner below misbehaves off the captured lengths.
 */
function lengthRunner(format: string, name: string, beforeRun: (length: number, session: object) => void): void {
  registerTestFormat(format, 'fp32', () => sequenceModel(false), undefined, [name]);
  registerTestRunner(name, async (artifact) => {
    const session = await InferenceSession.create(artifact.path);
    const token = {};
    return {
      accepts: () => true,
      release: () => session.release(),
      run: async (feeds: Feeds) => {
        beforeRun(feeds.x.dims[1], token);
        return (await session.run(feeds)) as Feeds;
      },
    };
  });
}

const stall = (ms: number) => {
  for (const end = performance.now() + ms; performance.now() < end; );
};

// Tuned to the captured lengths only: on any other length it stalls, as a plan specialized to the captured shapes can.
lengthRunner('test-shape-tuned', 'ShapeTunedRunner', (length) => {
  if (!CAPTURED_LENGTHS.includes(length)) stall(30);
});

// Sessions that share one plan slot for lengths other than the captured ones, as engines with one
// optimization profile or a captured graph do: each module alone keeps its plan and is fast, but two
// modules on it that take turns on a new length evict each other's plan every call.
let sharedPlan: { session: object; length: number } | undefined;
lengthRunner('test-shared-plan', 'SharedPlanRunner', (length, session) => {
  if (CAPTURED_LENGTHS.includes(length) || (sharedPlan?.session === session && sharedPlan.length === length)) return;
  stall(20); // plans again
  sharedPlan = { session, length };
});

// Fails on any length it was not tuned to (as an engine built for one profile does): faster on the dataloader, broken on the next input.
lengthRunner('test-shape-bound', 'ShapeBoundRunner', (length) => {
  if (!CAPTURED_LENGTHS.includes(length)) throw new Error(`no profile for length ${length}`);
});

const sequences = navModule(new OnnxModule(writeModel(dir, 'heavy.onnx', sequenceModel(true))), { name: 'noise_seq' });
const call = (batch: number, length: number) => sequences.run({ x: new Tensor('float32', Float32Array.from({ length: batch * length * 8 }, (_, i) => Math.sin(i)), [batch, length, 8]) });

describe('a choice must beat the source beyond the noise, on shapes capture never saw too', () => {
  it('makes inputs of an unseen size within the captured range by padding or cropping a recorded call', () => {
    const signature = { inputs: [{ name: 'x', dtype: 'float32', shape: [null, null, 8], dynamicAxes: [0, 1], min: [1, 4, 8], opt: [1, 4, 8], max: [1, 12, 8] }], outputs: [], batching: true, batchSizes: { 1: 2 }, calls: 2 };
    const x = new Tensor('float32', Float32Array.from({ length: 32 }, (_, i) => i + 1), [1, 4, 8]);
    const unseen = unseenShapeFeeds({ x }, signature)!;
    expect(unseen.x.dims).toEqual([1, 8, 8]);
    expect(Array.from(unseen.x.data as Float32Array).slice(0, 32)).toEqual(Array.from(x.data as Float32Array));
    expect(Array.from(unseen.x.data as Float32Array).slice(32)).toEqual(new Array(32).fill(0));
    expect(unseenShapeFeeds({ x }, { ...signature, inputs: [{ ...signature.inputs[0], dynamicAxes: [0], min: [1, 4, 8], max: [1, 4, 8] }] })).toBeUndefined();
  });

  it('keeps the source when a candidate faster on the dataloader is slower on other sizes, and says why', async () => {
    const status = await optimize(call, [[1, 1, 4], [1, 1, 12]], {
      ...quiet, workspace: path.join(dir, 'workspace'), runners: ['OnnxCPU', 'ShapeTunedRunner'], targetFormats: ['onnx', 'test-shape-tuned'], endToEnd: { enabled: false },
    });
    const m = status.modules.noise_seq;
    const tuned = m.candidates.find((c) => c.key === 'test-shape-tuned/ShapeTunedRunner/default')!;
    expect(tuned.status).toBe('passed');
    expect(m.selected.key).toBe(m.baseline);
    expect(m.selected.reason).toMatch(/^no measurable gain: test-shape-tuned\/ShapeTunedRunner\/default \(lowest latency at the observed batch sizes\) ran .* on the captured shapes and .* on unseen ones/);
    expect(m.selected.gain!.speedupQuartiles[0]).toBeGreaterThan(1); // faster on what capture saw...
    expect(m.selected.gain!.unseen!.speedupQuartiles[1]).toBeLessThan(1); // ...slower beyond the noise elsewhere
    expect(sequences.binding.isSource).toBe(true);
    expect(fs.existsSync(path.join(dir, 'workspace', 'noise_seq', 'status.json'))).toBe(true);
  });

  it('keeps the source when a candidate fails on a size capture never saw that the source takes', async () => {
    const bound = navModule(new OnnxModule(writeModel(dir, 'bound.onnx', sequenceModel(true))), { name: 'noise_bound' });
    const status = await optimize((batch: number, length: number) => bound.run({ x: new Tensor('float32', new Float32Array(batch * length * 8).fill(0.5), [batch, length, 8]) }), [[1, 1, 4], [1, 1, 12]], {
      ...quiet, workspace: path.join(dir, 'bound-workspace'), runners: ['OnnxCPU', 'ShapeBoundRunner'], targetFormats: ['onnx', 'test-shape-bound'], endToEnd: { enabled: false },
    });
    const m = status.modules.noise_bound;
    expect(m.candidates.find((c) => c.key === 'test-shape-bound/ShapeBoundRunner/default')!.status).toBe('passed');
    expect(m.selected.key).toBe(m.baseline);
    expect(m.selected.reason).toMatch(/test-shape-bound\/ShapeBoundRunner\/default .* failed on a size capture never saw that the source takes \(.*no profile for length 8/);
    expect(m.selected.gain!.unseenFailure).toMatch(/no profile for length 8/);
    expect(bound.binding.isSource).toBe(true);
  });

  it('reverts, per module, choices that win alone and on the dataloader but slow the pipeline down on other sizes', async () => {
    const first = navModule(new OnnxModule(writeModel(dir, 'first.onnx', sequenceModel(true))), { name: 'replay_first' });
    const second = navModule(new OnnxModule(writeModel(dir, 'second.onnx', sequenceModel(true))), { name: 'replay_second' });
    const pipeline = async (batch: number, length: number) => {
      const { y } = await first.run({ x: new Tensor('float32', Float32Array.from({ length: batch * length * 8 }, (_, i) => Math.cos(i)), [batch, length, 8]) });
      return second.run({ x: y });
    };
    const status = await optimize(pipeline, [[1, 1, 4], [1, 1, 12]], {
      ...quiet, workspace: path.join(dir, 'replay-workspace'), runners: ['OnnxCPU', 'SharedPlanRunner'], targetFormats: ['onnx', 'test-shared-plan'], endToEnd: { enabled: false },
    });
    for (const [name, module] of [['replay_first', first], ['replay_second', second]] as const) {
      const m = status.modules[name];
      // The module step chose the runner: faster than the source on captured and unseen lengths alike...
      expect(m.decisions[0].key).toBe('test-shared-plan/SharedPlanRunner/default');
      expect(m.decisions[0].reason).not.toMatch(/no measurable gain/);
      // ...and the replay of both modules at an unseen length took it back.
      expect(m.decisions.map((d) => d.step)).toContain('unseen-shapes');
      expect(m.selected.key).toBe(m.baseline);
      expect(m.selected.reason).toMatch(/; slower on shapes capture never saw: .* ms for its part of the pipeline replay, so the source model runs/);
      expect(status.pipeline!.unseen!.modules[name].afterMs).toBeGreaterThan(status.pipeline!.unseen!.modules[name].beforeMs);
      expect(module.binding.isSource).toBe(true);
    }
    expect(status.pipeline!.notes.join('\n')).toMatch(/failed or slower there beyond the spread: replay_first, replay_second run their original models/);
  });
});
