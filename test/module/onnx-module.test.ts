import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize, strategies } from '../../src';
import type { Feeds } from '../../src';
import { registerTestFormat } from '../helpers/formats';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();

/** A copy of the source that declares it only takes batch 2: stands in for fixed-shape formats. */
registerTestFormat('test-fixed-batch-2', 'fp32', (source) => fs.readFileSync(source), { x: [2, 16] });

describe('OnnxModule', () => {
  it('runs from bytes, maps inputs and outputs, and says what it runs on', async () => {
    const module = navModule(new OnnxModule<number[], number[]>(mlpModel({ seed: 31 })), {
      name: 'module_mapped',
      inputMapping: (values) => ({ x: new Tensor('float32', Float32Array.from(values), [1, values.length]) }),
      outputMapping: (outputs: Feeds) => Array.from(outputs.y.data as Float32Array),
    });
    const out = await module.run(new Array(16).fill(0.25));
    expect(out).toHaveLength(8);
    expect(module.describe()).toBe('module_mapped: onnx on OnnxCPU (default) - not optimized');
    const status = await optimize(() => module.run(new Array(16).fill(0.1)), [[1]], { workspace: path.join(dir, 'mapped'), ...quiet, targetFormats: ['onnx', 'onnx-optimized'] });
    expect(fs.existsSync(path.join(dir, 'mapped', 'module_mapped', status.modules.module_mapped.runDir, 'source.onnx'))).toBe(true);
    expect(await module.run(new Array(16).fill(0.25))).toEqual(out.map((v) => expect.closeTo(v, 5)));
  });

  it('sends inputs of a shape the selected runner cannot take to the original model', async () => {
    const file = writeModel(dir, 'fixed.onnx', mlpModel({ seed: 32 }));
    const module = navModule(new OnnxModule(file), { name: 'module_fixed' });
    const status = await optimize((batch: number) => module.run({ x: rows(batch, 16) }), [[2, 2]], {
      workspace: path.join(dir, 'fixed'), ...quiet, targetFormats: ['onnx', 'test-fixed-batch-2'], strategy: strategies.selected('test-fixed-batch-2', 'OnnxCPU'),
    });
    expect(status.modules.module_fixed.selected.key).toMatch(/^test-fixed-batch-2\/OnnxCPU/);
    expect(module.binding.format).toBe('test-fixed-batch-2');
    const reference = new OnnxModule(file);
    for (const batch of [2, 5]) {
      const [got, want] = [await module.run({ x: rows(batch, 16) }), await reference.run({ x: rows(batch, 16) })];
      expect(got.y.dims).toEqual([batch, 8]);
      expect(Array.from(got.y.data as Float32Array)).toEqual(Array.from(want.y.data as Float32Array));
    }
  });

  it('names the module and the file when onnxruntime cannot load the model', async () => {
    const module = navModule(new OnnxModule(writeModel(dir, 'broken.onnx', new Uint8Array([8, 7, 18, 3, 1, 2]))), { name: 'module_broken' });
    await expect(module.run({})).rejects.toThrow(/^module "module_broken", ".*broken\.onnx": onnxruntime cannot load the model\n  Reason: .*\n  Fix: check that the file is a complete ONNX model/);
  });

  it('names the module and the file when the model cannot be read', async () => {
    const module = navModule(new OnnxModule(path.join(dir, 'missing.onnx')), { name: 'module_missing' });
    await expect(optimize(() => module.run({}), [[1]], { ...quiet, workspace: path.join(dir, 'missing') })).rejects.toThrow(
      /module "module_missing", ".*missing\.onnx": cannot read the model file/,
    );
  });
});
