import { strategies } from '../../src';
import type { CandidateStatus, ModuleStatus } from '../../src';
import type { Choices, PipelineContext } from '../../src/optimizer/choices';
import { deviceAssignmentStep, uniformAssignmentStep } from '../../src/optimizer/device-assignment';
import { pipelineTimingStep, quietThreadsStep } from '../../src/optimizer/pipeline-timing';

/** A passed candidate with one profiled batch size. */
function candidate(runner: string, p50Ms: number): CandidateStatus {
  return {
    key: `onnx/${runner}/default`, format: 'onnx', runner, variant: { id: 'default', settings: {} }, precision: 'fp32',
    conversion: { status: 'ok' }, correctness: { status: 'ok', outputs: [] }, verify: { status: 'skipped' },
    performance: [{ batchSize: 1, p50Ms, p90Ms: p50Ms, p99Ms: p50Ms, meanMs: p50Ms, throughput: 1000 / p50Ms, windows: 3, stable: true }],
    status: 'passed',
  };
}

/** A module whose CPU candidate was selected (faster alone) and that also has a WebGPU candidate. */
function moduleStatus(name: string, cpuMs: number, gpuMs: number): ModuleStatus {
  const cpu = candidate('OnnxCPU', cpuMs);
  return {
    module: name, candidates: [cpu, candidate('OnnxWebGPU', gpuMs)], baseline: cpu.key,
    selected: { key: cpu.key, reason: 'fastest alone', latencyMs: cpuMs, sourceLatencyMs: cpuMs, speedup: 1, maxRelL2: 0 },
    signature: { inputs: [], outputs: [], batching: true, batchSizes: { 1: 1 }, calls: 1 },
  } as unknown as ModuleStatus;
}

/** Passes that did not vary: only the medians matter here. */
const quartiles = { beforeQuartilesMs: [0, 0] as [number, number], afterQuartilesMs: [0, 0] as [number, number] };

function context(statuses: ModuleStatus[], afterMs: number, results: unknown[] = [[1, 2, 3]]) {
  const bound: string[][] = [];
  const context: PipelineContext = {
    modules: statuses.map((status) => ({ name: status.module, status, strategy: strategies.observedLatency() })),
    apply: async (choices) => void bound.push(statuses.map((s) => choices.get(s.module)!.key)),
    time: async () => ({ beforeMs: 20, afterMs, ...quartiles }),
    timeUnseen: async () => undefined,
    results: async () => results,
    original: { results: [[1, 2, 3]], firstResults: [[1, 2, 3]] },
    thresholds: { minCosine: 0.99, maxRelativeError: 0.05 },
  };
  return { bound, context };
}

/** The module step's choices: each module's selected candidate. */
function choicesOf(statuses: ModuleStatus[]): Choices {
  return new Map(statuses.map((s) => [s.module, { step: 'module', key: s.selected.key, reason: s.selected.reason }]));
}

const keys = (choices: Choices, statuses: ModuleStatus[]) => statuses.map((s) => choices.get(s.module)!.key);

describe('trying every module on the GPU', () => {
  it('keeps the consistent assignment when the pipeline is faster with it', async () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    const { context: ctx, bound } = context(statuses, 8);
    const outcome = await deviceAssignmentStep(ctx, choicesOf(statuses), { beforeMs: 20, afterMs: 10, ...quartiles });
    expect(outcome!.notes[0]).toMatch(/^moved enc, den to the GPU with the rest of the pipeline: 8\.0 ms vs 10\.0 ms/);
    expect(outcome!.timing!.afterMs).toBe(8);
    expect(keys(outcome!.choices, statuses)).toEqual(['onnx/OnnxWebGPU/default', 'onnx/OnnxWebGPU/default']);
    expect(outcome!.choices.get('enc')!.reason).toMatch(/on the GPU with the rest of the pipeline/);
    // A step returns new choices: the statuses it was given are not edited.
    expect(statuses.map((s) => s.selected.key)).toEqual(['onnx/OnnxCPU/default', 'onnx/OnnxCPU/default']);
    expect(bound).toEqual([['onnx/OnnxWebGPU/default', 'onnx/OnnxWebGPU/default']]);
  });

  it('goes back to the module-by-module choice when it is not faster, or when results drift', async () => {
    for (const [afterMs, results, why] of [[9.9, [[1, 2, 3]], /9\.9 ms vs 10\.0 ms/], [5, [[1, 2, 9]], /final results drift \(item\[0\]\)/]] as const) {
      const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
      const { context: ctx, bound } = context(statuses, afterMs, results as unknown as unknown[]);
      const outcome = await deviceAssignmentStep(ctx, choicesOf(statuses), { beforeMs: 20, afterMs: 10, ...quartiles });
      expect(outcome!.notes[0]).toMatch(why);
      expect(outcome!.notes[0]).toMatch(/kept the module-by-module choice/);
      expect(keys(outcome!.choices, statuses)).toEqual(['onnx/OnnxCPU/default', 'onnx/OnnxCPU/default']);
      expect(bound[bound.length - 1]).toEqual(['onnx/OnnxCPU/default', 'onnx/OnnxCPU/default']);
    }
  });

  it('does nothing where no module could move, or a lone module would', async () => {
    const cpuOnly = moduleStatus('solo', 1, 1);
    cpuOnly.candidates[1].status = 'skipped';
    const statuses = [cpuOnly, moduleStatus('one', 1, 2)];
    expect(await deviceAssignmentStep(context(statuses, 1).context, choicesOf(statuses), { beforeMs: 2, afterMs: 2, ...quartiles })).toBeUndefined();
    expect(cpuOnly.selected.key).toBe('onnx/OnnxCPU/default');
  });
});

describe('the pipeline-level rule', () => {
  const timing = (afterMs: number, pairs: [number, number]) => ({ beforeMs: 20, afterMs, ...quartiles, pairSpeedupQuartiles: pairs });

  it('keeps choices that make the pipeline faster beyond the spread of the paired passes', async () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    const choices = new Map(statuses.map((s) => [s.module, { step: 'module', key: s.candidates[1].key, reason: 'faster alone' }]));
    const { context: ctx } = context(statuses, 10);
    const outcome = await pipelineTimingStep(ctx, choices, timing(10, [1.6, 2.4]));
    expect(outcome.choices).toBe(choices);
    expect(outcome.notes).toEqual([]);
  });

  it('puts the modules whose choice the user did not name back on their source when the gain is within the noise', async () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    const choices = new Map(statuses.map((s) => [s.module, { step: 'module', key: s.candidates[1].key, reason: 'faster alone' }]));
    const { context: ctx, bound } = context(statuses, 19.5);
    ctx.modules[1].strategy = strategies.selected('onnx', 'OnnxWebGPU');
    const outcome = await pipelineTimingStep(ctx, choices, timing(19.5, [0.9, 1.15]));
    expect(outcome.choices.get('enc')).toMatchObject({ step: 'pipeline-timing', key: 'onnx/OnnxCPU/default', reason: expect.stringMatching(/^no measurable gain for the whole pipeline: 19\.5 ms vs 20\.0 ms, middle half of the paired speedups 0\.90-1\.15x/) });
    expect(outcome.choices.get('den')!.key).toBe('onnx/OnnxWebGPU/default'); // named by the user: stays
    expect(bound[bound.length - 1]).toEqual(['onnx/OnnxCPU/default', 'onnx/OnnxWebGPU/default']);
    expect(outcome.notes).toEqual([expect.stringMatching(/: enc run their original models$/)]);
  });

  it('turns thread spinning off for every CPU module of a pipeline of several modules, a source choice too', () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    const choices = new Map([
      ['enc', { step: 'module', key: 'onnx/OnnxCPU/default', reason: 'source' }],
      ['den', { step: 'module', key: 'onnx/OnnxWebGPU/default', reason: 'gpu' }],
    ]);
    const { context: ctx } = context(statuses, 10);
    expect(quietThreadsStep(ctx, choices, 1).choices).toBe(choices);
    const outcome = quietThreadsStep(ctx, choices, 2);
    expect(outcome.choices.get('enc')).toEqual({ step: 'threads', key: 'onnx/OnnxCPU/default', settings: { 'session.intra_op.allow_spinning': 0 }, reason: 'thread spinning off: 2 modules share the cores' });
    expect(outcome.choices.get('den')).toBe(choices.get('den'));
  });
});

describe('the uniform assignment', () => {
  /** A context whose pipeline takes `uniformMs` with every module on WebGPU, 10 ms otherwise. */
  function timedByAssignment(statuses: ModuleStatus[], uniformMs: number) {
    const { context: ctx, bound } = context(statuses, 10);
    ctx.time = async () => ({ beforeMs: 20, afterMs: bound[bound.length - 1].every((key) => key === 'onnx/OnnxWebGPU/default') ? uniformMs : 10, ...quartiles });
    return { ctx, bound };
  }
  const mixed = (statuses: ModuleStatus[]) => new Map([
    [statuses[0].module, { step: 'module', key: 'onnx/OnnxCPU/default', reason: 'faster alone' }],
    [statuses[1].module, { step: 'module', key: 'onnx/OnnxWebGPU/default', reason: 'faster alone' }],
  ]);

  it("replaces a mixed assignment that is slower than every module's source on one GPU", async () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    const { ctx, bound } = timedByAssignment(statuses, 8);
    const outcome = await uniformAssignmentStep(ctx, mixed(statuses), { beforeMs: 20, afterMs: 10, ...quartiles });
    expect(keys(outcome!.choices, statuses)).toEqual(['onnx/OnnxWebGPU/default', 'onnx/OnnxWebGPU/default']);
    expect(outcome!.choices.get('enc')).toMatchObject({ step: 'uniform-assignment', reason: expect.stringMatching(/source on OnnxWebGPU was faster than the mixed assignment/) });
    expect(outcome!.timing!.afterMs).toBe(8);
    expect(bound[bound.length - 1]).toEqual(['onnx/OnnxWebGPU/default', 'onnx/OnnxWebGPU/default']);
  });

  it('keeps the current choices when the uniform one is not faster beyond 3%, and binds them again', async () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    const { ctx, bound } = timedByAssignment(statuses, 9.9);
    const choices = mixed(statuses);
    const outcome = await uniformAssignmentStep(ctx, choices, { beforeMs: 20, afterMs: 10, ...quartiles });
    expect(outcome!.choices).toBe(choices);
    expect(bound[bound.length - 1]).toEqual(['onnx/OnnxCPU/default', 'onnx/OnnxWebGPU/default']);
  });

  it('does nothing where a module has no passing source on that GPU', async () => {
    const statuses = [moduleStatus('enc', 1, 1.2), moduleStatus('den', 2, 2.1)];
    statuses[0].candidates[1].status = 'failed';
    expect(await uniformAssignmentStep(timedByAssignment(statuses, 1).ctx, mixed(statuses), { beforeMs: 20, afterMs: 10, ...quartiles })).toBeUndefined();
  });
});
