import { navModule, OnnxModule, optimize, strategies } from '../../src';
import { resolveModuleConfig } from '../../src/config/resolve';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();
const model = navModule(new OnnxModule(writeModel(dir, 'm.onnx', mlpModel())), { name: 'cfg_module' });
const run = (batch: number) => model.run({ x: rows(batch, 16) });

async function rejection(config: object): Promise<string> {
  try {
    await optimize(run, [[1, 1]], { workspace: dir, verbose: false, ...config });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a rejection');
}

describe('invalid configs are rejected before any work, with the property path', () => {
  it.each([
    [{ sampleCount: 0 }, /optimizeConfig\.sampleCount: sampleCount must not be less than 1/],
    [{ tolerances: { fp16: { atol: 1e-3, rtol: -1 } } }, /optimizeConfig\.tolerances\.fp16\.rtol: rtol must not be less than 0/],
    [{ runners: ['OnnxCPU', 'OnnxTPU'] }, /optimizeConfig\.runners: runners has unknown runner "OnnxTPU"; valid: OnnxCPU/],
    [{ targetFormats: ['onnx-int3'] }, /optimizeConfig\.targetFormats: .*unknown format "onnx-int3"/],
    [{ batchSizes: [1, 2.5] }, /optimizeConfig\.batchSizes: each value in batchSizes must be an integer/],
    [{ strategy: { type: 'fastest' } }, /optimizeConfig\.strategy: strategy must be one of strategies\.observedLatency\(\)/],
    [{ strategy: strategies.maxThroughputWithLatencyBudget(-2) }, /strategy needs a positive latencyBudgetMs/],
    [{ profiling: { windowMs: 0 } }, /optimizeConfig\.profiling\.windowMs: windowMs must not be less than 1/],
    [{ verifyFunc: 'yes' }, /optimizeConfig\.verifyFunc: verifyFunc must be a function/],
    [{ sampleCuont: 3 }, /optimizeConfig\.sampleCuont: property sampleCuont should not exist/],
    [{ calibration: { method: 'kl' } }, /optimizeConfig\.calibration\.method: method must be one of the following values: minmax, percentile, entropy/],
    [{ calibration: { samples: 0 } }, /optimizeConfig\.calibration\.samples: samples must not be less than 1/],
    [{ calibration: { percentile: 101 } }, /optimizeConfig\.calibration\.percentile: percentile must not be greater than 100/],
    [{ tolerances: { int8: { atol: 0, rtol: 0, minCosine: 2 } } }, /optimizeConfig\.tolerances\.int8\.minCosine: minCosine must not be greater than 1/],
  ])('%j', async (config, message) => {
    const text = await rejection(config);
    expect(text).toMatch(message);
    expect(text).toMatch(/Fix: /);
  });

  it('names the module whose own config is invalid', async () => {
    model.optimizeConfig = { maxBatchSize: -4 };
    try {
      const text = await rejection({});
      expect(text).toMatch(/^module "cfg_module", "optimizeConfig": invalid optimizeConfig:/);
      expect(text).toMatch(/optimizeConfig\.maxBatchSize: maxBatchSize must be a positive number/);
    } finally {
      model.optimizeConfig = undefined;
    }
  });

  it('completes calibration and int8 tolerances with defaults', () => {
    const config = resolveModuleConfig({ calibration: { method: 'entropy' }, tolerances: { int8: { atol: 0.1, rtol: 0, minCosine: 0.99 } } });
    expect(config.calibration).toEqual({ method: 'entropy', samples: 8, percentile: 99.999 });
    expect(config.tolerances.int8).toEqual({ atol: 0.1, rtol: 0, minCosine: 0.99 });
    expect(resolveModuleConfig({}).tolerances.int8).toEqual({ atol: 1e-2, rtol: 0.1, maxRelL2: 0.05, minCosine: 0.995 });
  });

  it('accepts a valid config', async () => {
    const status = await optimize(run, [[1, 1]], { workspace: dir, ...quiet, targetFormats: ['onnx'], tolerances: { fp32: { atol: 1e-4, rtol: 1e-3 } }, verifyFunc: () => true });
    const config = status.modules.cfg_module.config as { tolerances: { fp32: object } };
    expect(config.tolerances.fp32).toEqual({ atol: 1e-4, rtol: 1e-3 });
  });
});

describe('decorator arguments', () => {
  it('rejects a missing or duplicate name', () => {
    expect(() => navModule({ name: '' })).toThrow(/needs a name/);
    expect(() => navModule(new OnnxModule('x.onnx'), { name: 'cfg_module' })).toThrow(/module name "cfg_module" is already used/);
  });
});
