import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize, strategies } from '../../src';
import { GraphBuilder } from '../../src/onnx/builder';
import { compareResults, drifted } from '../../src/optimizer/end-to-end';
import { registerTestFormat } from '../helpers/formats';
import { quiet, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();

/** y = tanh(x W): a step that a pipeline applies repeatedly, feeding y back in. */
function stepModel(gain: number): Uint8Array {
  const b = new GraphBuilder('step', { seed: 41 });
  const x = b.input('x', 'float32', ['batch', 16]);
  const y = b.op('MatMul', [x, b.randomWeight('w', [16, 16], 0.5)]);
  b.node('Mul', [y, b.constant('gain', new Float32Array([gain]), [])], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 16]);
  return b.toBytes();
}

/**
 * Stands in for a lower-precision conversion whose module-level error (3%) is within the int8
 * tolerance, but compounds when the pipeline feeds the output back in a loop.
 */
registerTestFormat('test-int8-drifting', 'int8', () => stepModel(1.03));

const step = navModule(new OnnxModule(writeModel(dir, 'step.onnx', stepModel(1))), { name: 'e2e_step' });

async function iterate(batch: number, loops: number): Promise<Tensor> {
  let x: Tensor = new Tensor('float32', Float32Array.from({ length: batch * 16 }, (_, i) => Math.cos(i)), [batch, 16]);
  for (let i = 0; i < loops; i++) x = (await step.run({ x })).y;
  return x;
}

const config = { ...quiet, runners: ['OnnxCPU'], targetFormats: ['onnx', 'test-int8-drifting'], strategy: strategies.selected('test-int8-drifting', 'OnnxCPU') };

describe('the end-to-end check', () => {
  it('keeps a lower-precision choice whose pipeline outputs stay close', async () => {
    const status = await optimize(iterate, [[1, 1, 1]], { ...config, workspace: path.join(dir, 'one-loop'), endToEnd: { maxRelativeError: 0.05 } });
    expect(status.modules.e2e_step.selected.key).toMatch(/^test-int8-drifting\//);
    expect(status.pipeline!.endToEnd).toMatchObject({ checked: true, fallbacks: [] });
    expect(status.pipeline!.endToEnd.worst[0].relL2).toBeCloseTo(0.03, 3);
  });

  it('overturns a module-level choice when the pipeline output drifts, and records why', async () => {
    const status = await optimize(iterate, [[1, 1, 8], [2, 2, 8]], { ...config, workspace: path.join(dir, 'eight-loops') });
    const module = status.modules.e2e_step;
    const drifting = module.candidates.filter((c) => c.format === 'test-int8-drifting');
    for (const candidate of drifting) {
      expect(candidate.correctness.status).toBe('ok'); // it passed its own module check...
      expect(candidate.status).toBe('failed'); // ...and the pipeline check overturned it
      expect(candidate.reason).toMatch(/rejected by the end-to-end check \(pipeline output item\[0\]: cosine .*, relative error/);
    }
    expect(module.selected.key).toMatch(/^onnx\/OnnxCPU\//);
    expect(module.selected.reason).toMatch(/end-to-end check rejected test-int8-drifting/);
    expect(status.pipeline!.endToEnd.fallbacks).toEqual([expect.stringMatching(/^e2e_step: test-int8-drifting\/OnnxCPU\/[a-z0-9-]+ -> onnx\/OnnxCPU\//)]);
    expect(status.report).toMatch(/fell back: e2e_step/);
    expect(step.binding.format).not.toBe('test-int8-drifting');
    // The cache holds the overturned decision.
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'eight-loops', 'e2e_step', 'status.json'), 'utf8'));
    expect(onDisk.selected.key).toBe(module.selected.key);
  });

  it('takes a metric of the user\'s own', async () => {
    const seen: number[] = [];
    const compare = (candidate: unknown[], original: unknown[]) => {
      seen.push(candidate.length, original.length);
      return false;
    };
    const status = await optimize(iterate, [[1, 1, 1]], { ...config, workspace: path.join(dir, 'metric'), endToEnd: { compare } });
    // Called with each item's results: once for the int8 choice, once more after the fallback.
    expect(seen).toEqual([1, 1, 1, 1]);
    expect(status.modules.e2e_step.selected.key).toMatch(/^onnx\/OnnxCPU\//);
    expect(status.pipeline!.endToEnd.fallbacks).toEqual([expect.stringMatching(/\(config\.endToEnd\.compare said the results disagree\)$/)]);
    expect(status.pipeline!.endToEnd.summary).toBe('final outputs still drift with every module at full precision');
  });

  it('can be turned off', async () => {
    const status = await optimize(iterate, [[1, 1, 8]], { ...config, workspace: path.join(dir, 'off'), endToEnd: { enabled: false } });
    expect(status.modules.e2e_step.selected.key).toMatch(/^test-int8-drifting\//);
    expect(status.pipeline!.endToEnd).toMatchObject({ checked: false, summary: 'disabled by config.endToEnd.enabled' });
  });
});

describe('compareResults', () => {
  it('compares numeric leaves by path and flags drift', () => {
    const original = [{ image: new Tensor('float32', Float32Array.from([1, 2, 3]), [3]), label: 'cat', scores: [0.5, 0.5] }];
    const same = compareResults(original, original);
    expect(same.map((c) => c.path)).toEqual(['item[0].image', 'item[0].scores']);
    expect(drifted(same, { minCosine: 0.99, maxRelativeError: 0.01 })).toEqual([]);
    const moved = compareResults([{ image: new Tensor('float32', Float32Array.from([1, 2, 4]), [3]), scores: [0.5, 0.5] }], original);
    expect(drifted(moved, { minCosine: 0.99, maxRelativeError: 0.01 }).map((c) => c.path)).toEqual(['item[0].image']);
    expect(compareResults([{}], original).find((c) => c.path === 'item[0].image')).toMatchObject({ cosine: 0, relL2: Infinity });
  });
});
