/**
 * What a rebound module adds per call: `module.run(feeds)` after optimize vs a plain
 * `InferenceSession.run(feeds)` on the same tiny model with the same session options, same run,
 * interleaved rounds so that drift hits both alike.
 *
 *   npm run bench:overhead
 */
import 'reflect-metadata';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../src';
import { GraphBuilder } from '../src/onnx/builder';
import { cpuSessionOptions } from '../src/runners/onnx-cpu';
import { median } from './timing';

function tinyModel(): Uint8Array {
  const b = new GraphBuilder('tiny', { seed: 7 });
  const x = b.input('x', 'float32', ['batch', 8]);
  b.node('Relu', [b.op('MatMul', [x, b.randomWeight('w', [8, 8])])], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', 8]);
  return b.toBytes();
}

async function timeCalls(run: () => Promise<unknown>, calls: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await run();
  return Number(process.hrtime.bigint() - start) / 1e3 / calls; // microseconds per call
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-overhead-'));
  const file = path.join(dir, 'tiny.onnx');
  fs.writeFileSync(file, tinyModel());
  const feeds = { x: new Tensor('float32', new Float32Array(8).fill(0.5), [1, 8]) };
  const module = navModule(new OnnxModule(file), { name: 'overhead_tiny' });
  const status = await optimize(() => module.run(feeds), [[1]], { workspace: path.join(dir, 'cache'), verbose: false, targetFormats: ['onnx'] });
  const selected = status.modules.overhead_tiny.candidates.find((c) => c.key === status.modules.overhead_tiny.selected.key)!;
  // The plain session gets exactly the settings the navigator selected, so only the wrapper differs.
  const plain = await InferenceSession.create(file, cpuSessionOptions(selected.variant.settings));
  const rounds = 15, calls = 4000;
  const rebound: number[] = [], direct: number[] = [];
  for (let r = 0; r < rounds; r++) {
    direct.push(await timeCalls(() => plain.run(feeds), calls));
    rebound.push(await timeCalls(() => module.run(feeds), calls));
  }
  const [d, m] = [median(direct), median(rebound)];
  const result = {
    machine: `${os.cpus()[0].model.trim()} (${os.cpus().length} cores), Node ${process.version}`,
    date: new Date().toISOString().slice(0, 10),
    selected: selected.key,
    plainSessionRunUs: +d.toFixed(2),
    reboundModuleRunUs: +m.toFixed(2),
    addedUs: +(m - d).toFixed(2),
    ratio: +(m / d).toFixed(4),
    goal: 'under 3% or 30 microseconds added per call',
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`overhead: ${result.addedUs} us per call (${((result.ratio - 1) * 100).toFixed(2)}%) on ${result.machine}`);
  await plain.release();
  await module.release();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
