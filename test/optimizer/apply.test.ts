import * as path from 'path';
import { navModule, OnnxModule, optimize, strategies } from '../../src';
import type { Feeds, ModuleStatus } from '../../src';
import { createOrtSession } from '../../src/runners/ort-session';
import { Binder } from '../../src/optimizer/apply';
import { bindDecision } from '../../src/optimizer/binding';
import { registerTestRunner } from '../helpers/formats';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('nav-apply-');

/** A CPU runner that counts its sessions and their runs per format and, once told to, fails to create them. */
let sessions = 0;
let failing = false;
const runsOf: Record<string, number> = {};
registerTestRunner(
  'CountingRunner',
  async (artifact) => {
    if (failing) throw new Error('no session today');
    sessions++;
    const session = await createOrtSession(artifact, { executionProviders: ['cpu'] });
    return {
      ...session,
      run: (feeds: Feeds) => {
        runsOf[artifact.format] = (runsOf[artifact.format] ?? 0) + 1;
        return session.run(feeds);
      },
    };
  },
  ['onnxruntime'],
);

const mlp = navModule(new OnnxModule(writeModel(dir, 'mlp.onnx', mlpModel({ seed: 61 }))), { name: 'apply_mlp' });

/** The source model, selected on the counting runner. */
async function optimized(): Promise<{ module: OnnxModule; status: ModuleStatus }> {
  const result = await optimize((batch: number) => mlp.run({ x: rows(batch, 16) }), [[2, 2]], {
    ...quiet, force: true, endToEnd: { enabled: false }, workspace: path.join(dir, 'workspace'), targetFormats: ['onnx'], runners: ['OnnxCPU', 'CountingRunner'],
    strategy: strategies.selected('onnx', 'CountingRunner'),
  });
  return { module: mlp, status: result.modules.apply_mlp };
}

describe('the apply step', () => {
  it('says whether a module was bound as a value, not in prose', async () => {
    const { module, status } = await optimized();
    const decision = status.decisions[status.decisions.length - 1];
    expect(await bindDecision(module as OnnxModule<unknown, unknown>, status, decision, path.join(dir, 'workspace', 'apply_mlp'))).toMatchObject({ bound: true });
    failing = true;
    try {
      const outcome = await bindDecision(module as OnnxModule<unknown, unknown>, status, decision, path.join(dir, 'workspace', 'apply_mlp'));
      expect(outcome).toEqual({ bound: false, description: expect.stringContaining('no session today') });
      expect(module.binding.isSource).toBe(true);
      const out: Feeds = await module.run({ x: rows(2, 16) });
      expect(out.y.dims).toEqual([2, 8]);
    } finally {
      failing = false;
    }
  });

  it('leaves modules whose choice did not change as they are', async () => {
    const { module, status } = await optimized();
    const binder = new Binder([{ name: 'apply_mlp', module: module as OnnxModule<unknown, unknown>, status, moduleDir: path.join(dir, 'workspace', 'apply_mlp') }]);
    const before = sessions;
    const choices = new Map([['apply_mlp', status.decisions[status.decisions.length - 1]]]);
    expect((await binder.apply(choices)).modules.apply_mlp).toBe('bound to onnx/CountingRunner/default');
    await binder.apply(choices);
    expect(sessions - before).toBe(1);
    await binder.apply(new Map([['apply_mlp', { step: 'test', key: status.baseline, reason: 'back' }]]));
    expect(module.binding.isSource).toBe(true);
  });

  it('sends shapes a fixed-shape choice does not take to the source on the same runner, not off to the CPU original', async () => {
    const fixed = navModule(new OnnxModule(writeModel(dir, 'fixed.onnx', mlpModel({ seed: 62 }))), { name: 'apply_fixed' });
    const before = sessions;
    const result = await optimize((batch: number) => fixed.run({ x: rows(batch, 16) }), [[2, 2]], {
      ...quiet, force: true, endToEnd: { enabled: false }, workspace: path.join(dir, 'workspace-fixed'), targetFormats: ['onnx', 'onnx-static'], runners: ['OnnxCPU', 'CountingRunner'],
      strategy: strategies.selected('onnx-static', 'CountingRunner'),
    });
    expect(result.modules.apply_fixed.selected.key).toBe('onnx-static/CountingRunner/default');
    expect(fixed.binding).toMatchObject({ format: 'onnx-static', runner: 'CountingRunner' });
    expect(sessions - before).toBeGreaterThanOrEqual(2); // the fixed-shape session and the source beside it
    const [staticRuns, sourceRuns] = [runsOf['onnx-static'] ?? 0, runsOf.onnx ?? 0];
    const plain = await createOrtSession({ format: 'onnx', path: fixed.model as string, precision: 'fp32', sizeBytes: 0 }, { executionProviders: ['cpu'] });
    for (const batch of [2, 3]) {
      const x = rows(batch, 16);
      expect(Array.from(((await fixed.run({ x })) as Feeds).y.data as Float32Array)).toEqual(Array.from((await plain.run({ x })).y.data as Float32Array));
    }
    expect(runsOf['onnx-static'] - staticRuns).toBe(1); // batch 2: the shape it was made for
    expect(runsOf.onnx - sourceRuns).toBe(1); // batch 3: the source, on the same runner
    await plain.release();
    await fixed.release();
  });
});
