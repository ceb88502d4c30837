import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { OnnxModule, interceptSessions, optimize, strategies } from '../src';
import { mlpModel, quiet, rows, tempDir, writeModel } from './helpers/models';

// The library under test: plain JavaScript that keeps its sessions in #private fields.
const { TinyReader, features } = require('./fixtures/private-sessions-lib') as {
  TinyReader: { load(dir: string): Promise<{ read(f: Float32Array, rows: number): Promise<number[]>; close(): Promise<void> }> };
  features(rows: number): Float32Array;
};

const root = path.join(__dirname, '..');
const dir = tempDir();
const modelDir = path.join(dir, 'models');
fs.mkdirSync(path.join(modelDir, 'detector'), { recursive: true });
fs.mkdirSync(path.join(modelDir, 'recognizer'), { recursive: true });
writeModel(path.join(modelDir, 'detector'), 'model.onnx', mlpModel({ seed: 51, inputs: 16, outputs: 8 }));
writeModel(path.join(modelDir, 'recognizer'), 'model.onnx', mlpModel({ seed: 52, inputs: 8, outputs: 4 }));

describe('interceptSessions', () => {
  const originalCreate = ort.InferenceSession.create;

  it("optimizes a library's private sessions in one process and rebinds them in a later one", async () => {
    const plain = await TinyReader.load(modelDir);
    const expected = await plain.read(features(3), 3);
    await plain.close();

    const sessions = interceptSessions(ort);
    const reader = await TinyReader.load(modelDir);
    expect(sessions.modules.map((m) => m.name)).toEqual(['model', 'model-2']); // file names collide: a suffix, in creation order
    expect(sessions.modules.every((m) => m instanceof OnnxModule)).toBe(true);
    const workspace = path.join(dir, 'workspace');
    const status = await optimize((batch: number) => reader.read(features(batch), batch), [[1, 1], [4, 4]], {
      ...quiet,
      workspace,
      targetFormats: ['onnx', 'onnx-optimized'],
      strategy: strategies.selected('onnx-optimized', 'OnnxCPU'),
    });
    expect(Object.keys(status.modules).sort()).toEqual(['model', 'model-2']);
    // Each is bound to its selection (the pipeline timing step may still send a tiny model back to its source).
    const selectedFormat = (name: string) => status.modules[name].selected.key.split('/')[0];
    for (const module of sessions.modules) expect(module.binding.format).toBe(selectedFormat(module.name!));
    expect((await reader.read(features(3), 3)).map((v) => +v.toFixed(4))).toEqual(expected.map((v) => +v.toFixed(4)));
    await reader.close();
    sessions.restore();
    expect(ort.InferenceSession.create).toBe(originalCreate);

    // Later processes, on the compiled package (npm test builds dist/ first): loadOptimized() once the
    // library has loaded, or each session bound as it is created.
    for (const when of ['after', 'on-create']) {
      const out = execFileSync(process.execPath, [path.join(root, 'test/fixtures/private-sessions-lib/later-process.js'), modelDir, workspace, when], { cwd: root, encoding: 'utf8' });
      const later = JSON.parse(out.trim().split('\n').pop()!);
      const rebound = expect.stringMatching(/^(bound to onnx|the original model was the best)/);
      if (when === 'after') expect(later.loaded).toEqual({ model: rebound, 'model-2': rebound });
      for (const name of ['model', 'model-2']) expect(later.bindings[name].format).toBe(selectedFormat(name));
      expect(later.scores.map((v: number) => +v.toFixed(4))).toEqual(expected.map((v) => +v.toFixed(4)));
    }
  });

  it('leaves out the models include rejects, names models by options.name, and bytes by their hash', async () => {
    const bytes = mlpModel({ seed: 53 });
    const sessions = interceptSessions(ort, { include: (model) => model.path === undefined || model.path.includes('detector') });
    try {
      const [fromBytes, detector, recognizer] = await Promise.all([
        ort.InferenceSession.create(bytes),
        ort.InferenceSession.create(path.join(modelDir, 'detector', 'model.onnx')),
        ort.InferenceSession.create(path.join(modelDir, 'recognizer', 'model.onnx')),
      ]);
      expect((fromBytes as unknown as OnnxModule).name).toMatch(/^model-[0-9a-f]{12}$/);
      expect(detector).toBeInstanceOf(OnnxModule);
      expect(recognizer).not.toBeInstanceOf(OnnxModule); // onnxruntime's own session
      expect(() => interceptSessions(ort)).toThrow(/already intercepted\n  Fix: call interceptSessions once/);
      for (const session of [fromBytes, detector, recognizer]) await session.release();
    } finally {
      sessions.restore();
    }
    const named = interceptSessions(ort, { name: (model) => `ocr_${path.basename(path.dirname(model.path!))}` });
    try {
      const session = await ort.InferenceSession.create(path.join(modelDir, 'recognizer', 'model.onnx'));
      expect((session as unknown as OnnxModule).name).toBe('ocr_recognizer');
      const { y } = await session.run({ x: rows(2, 8) });
      expect(y.dims).toEqual([2, 4]);
    } finally {
      named.restore();
    }
  });
});
