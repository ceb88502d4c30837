import * as fs from 'fs';
import * as path from 'path';
import { navModule, OnnxModule, optimize, registerFormat, registerRunner, strategies } from '../../src';
import type { LoadResult as TensorRTLoad } from '../../native';
import { createTensorRTFormat } from '../../src/formats/tensorrt-engine';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';
import { copyFormat } from './copy-format';
import { exampleRunner } from './example-runner';

// Adding a format and a runner: one file each, and one registration line each.
registerFormat(copyFormat);
registerRunner(exampleRunner);

const dir = tempDir('nav-plugins-');

describe('plug-ins from outside src/', () => {
  it('are tried, checked and selected, with their own typed options and settings', async () => {
    const module = navModule(new OnnxModule(writeModel(dir, 'mlp.onnx', mlpModel({ seed: 51 }))), { name: 'plugin_mlp' });
    const status = await optimize((batch: number) => module.run({ x: rows(batch, 16) }), [[2, 2]], {
      ...quiet,
      workspace: path.join(dir, 'workspace'),
      targetFormats: ['onnx', 'example-copy'],
      runners: ['OnnxCPU', 'ExampleRunner'],
      formatOptions: { 'example-copy': { padding: 3 } },
      strategy: strategies.selected('example-copy', 'ExampleRunner'),
    });
    const m = status.modules.plugin_mlp;
    const ours = m.candidates.filter((c) => c.format === 'example-copy');
    // Loaded by the runner the format names, with every variant of that runner; not by OnnxCPU.
    expect(ours.map((c) => c.key).sort()).toEqual(['example-copy/ExampleRunner/one-thread', 'example-copy/ExampleRunner/two-threads']);
    for (const candidate of ours) {
      expect(candidate).toMatchObject({ conversion: { status: 'ok', reason: 'padding 3' }, correctness: { status: 'ok' }, status: 'passed' });
      expect(candidate.file).toMatch(/model___\.onnx$/);
    }
    expect(m.selected.key).toMatch(/^example-copy\/ExampleRunner\//);
    expect(m.decisions[0]).toMatchObject({ step: 'module', key: m.selected.key });
    expect(module.binding).toMatchObject({ format: 'example-copy', runner: 'ExampleRunner', isSource: false });
  });

  it("checks a format's options against its own class, with the property path", async () => {
    const module = navModule(new OnnxModule(mlpModel({ seed: 52 })), { name: 'plugin_bad_options' });
    const run = () => optimize(() => module.run({ x: rows(1, 16) }), [[1]], { ...quiet, workspace: path.join(dir, 'bad'), formatOptions: { 'example-copy': { padding: -1 } } });
    await expect(run()).rejects.toThrow(/optimizeConfig\.formatOptions\.example-copy\.padding: padding must not be less than 0/);
    const unknown = () => optimize(() => module.run({ x: rows(1, 16) }), [[1]], { ...quiet, workspace: path.join(dir, 'bad'), formatOptions: { 'no-such-format': {} } });
    await expect(unknown()).rejects.toThrow(/optimizeConfig\.formatOptions\.no-such-format: unknown format/);
  });

  it("keeps TensorRT's timing cache in the workspace across optimize runs (stand-in addon)", async () => {
    // A stand-in for the addon: it "builds" an engine by copying the ONNX model (the example runner
    // then loads it) and grows the timing cache, noting whether it found one from an earlier run.
    const builds: { timingCachePath: string; cacheExisted: boolean }[] = [];
    const standIn = (): TensorRTLoad => ({
      status: { built: true },
      addon: {
        info: () => ({ tensorrtVersion: '10.16.1', cudaRuntimeVersion: '13.0', deviceCount: 1, device: { name: 'stand-in', computeCapability: '9.0', totalMemoryBytes: 1 } }),
        buildEngine: async (options: { onnxPath: string; enginePath: string; timingCachePath: string }) => {
          builds.push({ timingCachePath: options.timingCachePath, cacheExisted: fs.existsSync(options.timingCachePath) });
          fs.copyFileSync(options.onnxPath, options.enginePath);
          fs.appendFileSync(options.timingCachePath, 'timing\n');
          return { engineBytes: 1, buildMs: 1, profiles: [], stronglyTyped: false, networkLayers: 1, timingCacheBytes: 7, notes: [] };
        },
      },
    } as unknown as TensorRTLoad);
    registerFormat({ ...createTensorRTFormat('fp32', standIn), name: 'example-trt-fp32', loadedBy: ['ExampleRunner'] });
    const module = navModule(new OnnxModule(writeModel(dir, 'trt.onnx', mlpModel({ seed: 53 }))), { name: 'plugin_trt' });
    const workspace = path.join(dir, 'trt-workspace');
    const config = { ...quiet, workspace, force: true, targetFormats: ['onnx', 'example-trt-fp32'], runners: ['OnnxCPU', 'ExampleRunner'] };
    for (let run = 0; run < 2; run++) await optimize((batch: number) => module.run({ x: rows(batch, 16) }), [[2, 2]], config);
    expect(builds.map((b) => b.cacheExisted)).toEqual([false, true]);
    expect(new Set(builds.map((b) => b.timingCachePath)).size).toBe(1);
    expect(path.relative(workspace, builds[0].timingCachePath)).toBe(path.join('.cache', 'trt-timing-10.16.1-sm90.cache'));
    expect(fs.readFileSync(builds[0].timingCachePath, 'utf8')).toBe('timing\ntiming\n');
  });
});
