import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { NavigatorError, OnnxModule, loadOptimized, navModule, optimize, strategies } from '../../src';
import { controlOf } from '../../src/module/onnx-module';
import { createOrtSession } from '../../src/runners/ort-session';
import { mlpGraph, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();

/** x [batch, 16] -> y [batch, 8] and r = relu(x) [batch, 16]: two outputs, for fetches. */
function twoOutputModel(seed: number): Uint8Array {
  const { b, x, y } = mlpGraph({ seed });
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.node('Relu', [x], {}, { outputs: ['r'] });
  b.output('y', 'float32', ['batch', 8]);
  b.output('r', 'float32', ['batch', 16]);
  return b.toBytes();
}

/** Code written against onnxruntime's interface, as a library's would be. */
async function firstOutput(session: InferenceSession, input: Tensor): Promise<Tensor> {
  const outputs = await session.run({ [session.inputNames[0]]: input });
  return outputs[session.outputNames[0]] as Tensor;
}

const values = (t: unknown) => Array.from((t as Tensor).data as Float32Array);

describe('OnnxModule as an InferenceSession', () => {
  const file = writeModel(dir, 'two-outputs.onnx', twoOutputModel(41));

  it('has the names and metadata of onnxruntime, and runs where an InferenceSession is expected', async () => {
    const plain = await InferenceSession.create(file);
    const module = await OnnxModule.create(file);
    expect(module.inputNames).toEqual(plain.inputNames);
    expect(module.outputNames).toEqual(['y', 'r']);
    expect(module.inputMetadata).toEqual(plain.inputMetadata);
    expect(module.outputMetadata).toEqual(plain.outputMetadata);
    expect(values(await firstOutput(module, rows(2, 16)))).toEqual(values(await firstOutput(plain, rows(2, 16))));
    await plain.release();
    await module.release();
  });

  it('says when the names of a module built with new are known', async () => {
    const module = new OnnxModule(file);
    expect(() => module.inputNames).toThrow(/known once the model is loaded\n  Fix: create it with await OnnxModule.create\(model\), or call await module.load\(\) first/);
    expect((await module.load()).inputNames).toEqual(['x']);
  });

  it('takes fetches as names or as an object, and run options, before and after optimization', async () => {
    const module = await OnnxModule.create(file, {}, { name: 'session_fetches' });
    const check = async () => {
      const all = await module.run({ x: rows(3, 16) });
      const onlyR = await module.run({ x: rows(3, 16) }, ['r'], { logSeverityLevel: 3 });
      expect(Object.keys(onlyR)).toEqual(['r']);
      expect(values(onlyR.r)).toEqual(values(all.r));
      const target = new Tensor('float32', new Float32Array(24), [3, 8]);
      const filled = await module.run({ x: rows(3, 16) }, { y: target });
      expect(values(filled.y)).toEqual(values(all.y));
      expect(Object.keys(await module.run({ x: rows(3, 16) }, { tag: 'a run option' }))).toEqual(['y', 'r']);
      await expect(module.run({ x: rows(3, 16) }, ['z' as 'r'])).rejects.toThrow(/module "session_fetches", "z": the model has no output "z"; its outputs are y, r/);
    };
    await check();
    const status = await optimize(() => module.run({ x: rows(2, 16) }), [[2]], {
      ...quiet,
      workspace: path.join(dir, 'fetches'),
      targetFormats: ['onnx', 'onnx-optimized'],
      strategy: strategies.selected('onnx-optimized', 'OnnxCPU'),
    });
    expect(module.binding.format).toBe(status.modules.session_fetches.selected.key.split('/')[0]); // bound, unless pipeline timing sent it back
    await check();
    await module.release();
  });
});

describe('run-time input errors name the module', () => {
  const file = writeModel(dir, 'mlp.onnx', twoOutputModel(42));
  const module = navModule(new OnnxModule(file), { name: 'checked_mlp' });
  const expectError = async (feeds: Record<string, unknown>, message: RegExp) => {
    const error = await module.run(feeds as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NavigatorError);
    expect((error as Error).message).toMatch(message);
  };

  it('reports a missing, extra or mistyped input, a wrong rank or a wrong fixed size, with the fix', async () => {
    await expectError({}, /^module "checked_mlp", "x": input "x" is missing; the model takes x \(float32 \[batch, 16\]\)\n  Fix: pass every input/);
    await expectError({ x: rows(1, 16), mask: rows(1, 16) }, /^module "checked_mlp", "mask": the model has no input "mask"; it takes x \(float32 \[batch, 16\]\)\n  Fix: remove it or correct its name in the feeds/);
    await expectError({ x: new Tensor('int32', new Int32Array(16), [1, 16]) }, /"x": input "x" is int32 \[1, 16\]; the model takes float32 \[batch, 16\]\n  Fix: create it as new Tensor\('float32'/);
    await expectError({ x: new Tensor('float32', new Float32Array(16), [16]) }, /"x": input "x" has 1 dims \(float32 \[16\]\); the model takes 2 \(float32 \[batch, 16\]\)\n  Fix: reshape it to \[batch, 16\]/);
    await expectError({ x: rows(2, 15) }, /"x": input "x" has size 15 on axis 1 \(float32 \[2, 15\]\); the model takes 16 there/);
    expect(Object.keys(await module.run({ x: rows(2, 16) }))).toEqual(['y', 'r']);
  });

  it('checks a bound module whose model is not loaded against what capture saw', async () => {
    // As loadOptimized binds a module in a later process: a runner session and the status's signature, the original never loaded.
    const fresh = navModule(new OnnxModule(fs.readFileSync(file)), { name: 'checked_mlp_fresh' });
    const spec = (name: string, width: number) => ({ name, dtype: 'float32', shape: [null, width], dynamicAxes: [0], min: [1, width], opt: [4, width], max: [4, width] });
    const signature = { inputs: [spec('x', 16)], outputs: [spec('y', 8), spec('r', 16)], batching: true, batchSizes: { 1: 1, 4: 3 }, calls: 4 };
    const binding = { format: 'onnx-optimized', runner: 'OnnxCPU', variant: 'default', isSource: false, reason: 'test' };
    await controlOf(fresh as OnnxModule<unknown, unknown>).bind(await createOrtSession(file, { executionProviders: ['cpu'] }), binding, signature);
    expect(fresh.inputNames).toEqual(['x']);
    expect(fresh.outputNames).toEqual(['y', 'r']);
    await expect(fresh.run({ x: new Tensor('float64', new Float64Array(16), [1, 16]) })).rejects.toThrow(
      /^module "checked_mlp_fresh", "x": input "x" is float64 \[1, 16\]; the model takes float32 \[d0, ~16\]; capture saw \[1..4, 16\]/,
    );
    await expect(fresh.run({ x: new Tensor('float32', new Float32Array(16), [16]) })).rejects.toThrow(/input "x" has 1 dims \(float32 \[16\]\); the model takes 2/);
    expect((await fresh.run({ x: rows(3, 15) }).catch((e: Error) => e)).message).not.toMatch(/checked_mlp_fresh/); // capture's sizes are not the model's: onnxruntime decides
    expect(fresh.inputMetadata[0]).toMatchObject({ shape: ['d0', 16] }); // capture's view until the model is loaded
    await fresh.load();
    expect(fresh.inputMetadata[0]).toMatchObject({ shape: ['batch', 16] });
    expect((await fresh.run({ x: rows(7, 16) })).y.dims).toEqual([7, 8]);
  });
});
