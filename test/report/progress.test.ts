import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../../src';
import type { Feeds } from '../../src';
import { Progress } from '../../src/report/progress';
import { mlpModel, quickProfiling, rows, tempDir, writeModel } from '../helpers/models';

describe('Progress', () => {
  it('notes a runner unavailable once per run, however many modules ask', () => {
    const lines: string[] = [];
    const progress = new Progress(true, (l) => lines.push(l));
    for (const module of ['a', 'b', 'c']) progress.unavailable('OnnxCUDA', 'provider libraries missing. Fix: install them');
    expect(lines.filter((l) => l.includes('OnnxCUDA'))).toHaveLength(1);
  });

  it('counts a long phase: a start line, counts with elapsed and time left, an end line', async () => {
    const lines: string[] = [];
    const progress = new Progress(true, (l) => lines.push(l), { counterIntervalMs: 0 });
    const counter = progress.counter('m', 'check and profile candidates', 3);
    counter.tick();
    counter.add(1);
    counter.tick();
    counter.tick();
    counter.tick();
    counter.done('4 passed');
    expect(lines[0]).toMatch(/m: check and profile candidates: 3 to go$/);
    expect(lines[1]).toMatch(/m: check and profile candidates 1\/3, \d+\.\ds, about \d+s left$/);
    expect(lines.at(-1)).toMatch(/m: check and profile candidates: 4\/4 in \d+\.\ds; 4 passed$/);
  });
});

describe('progress of a real optimize', () => {
  it('prints one line per phase per module, each unavailable runner once, and nothing about this repository', async () => {
    const dir = tempDir();
    const paths = ['a', 'b', 'c'].map((n, i) => writeModel(dir, `${n}.onnx`, mlpModel({ seed: i + 1, inputs: 8, outputs: 8 })));
    class Chain {
      @navModule({ name: 'a' }) a = new OnnxModule(paths[0]);
      @navModule({ name: 'b' }) b = new OnnxModule(paths[1]);
      @navModule({ name: 'c' }) c = new OnnxModule(paths[2]);
      async run(batch: number): Promise<Feeds> {
        let x: Tensor = rows(batch, 8);
        for (const m of [this.a, this.b, this.c]) x = (await m.run({ x })).y;
        return { y: x };
      }
    }
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (lines.push(...String(chunk).split('\n').filter(Boolean)), true)) as typeof process.stderr.write;
    try {
      // Every runner, so that the GPU ones this machine may lack are asked for by each module.
      await optimize(new Chain(), [[1, 1], [2, 2]], { workspace: `${dir}/cache`, profiling: quickProfiling, targetFormats: ['onnx', 'onnx-optimized'], sampleCount: 2 });
    } finally {
      process.stderr.write = write;
    }
    const progress = lines.filter((l) => l.startsWith('[nav'));
    const unavailable = progress.filter((l) => /runner \S+ is not available/.test(l));
    expect(new Set(unavailable.map((l) => /runner (\S+)/.exec(l)![1])).size).toBe(unavailable.length);
    for (const module of ['a', 'b', 'c']) {
      const own = progress.filter((l) => l.includes(`] ${module}: `));
      expect(own.filter((l) => /: (check|profile) \S+\//.test(l))).toEqual([]);
      expect(own.length).toBeLessThanOrEqual(6);
    }
    expect(lines.join('\n')).not.toMatch(/this project|\.npmrc of|setup\.sh|lent GPU/);
  });
});
