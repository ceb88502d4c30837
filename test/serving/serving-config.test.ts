import { batchingFromProfile, resolveServingConfig } from '../../src/serving';
import type { PerformanceResult } from '../../src/core/status';

const perf = (batchSize: number, throughput: number): PerformanceResult => ({
  batchSize,
  throughput,
  p50Ms: (1000 * batchSize) / throughput,
  p90Ms: 0,
  p99Ms: 0,
  meanMs: 0,
  windows: 3,
  stable: true,
});

describe('serving config', () => {
  test('batches only where the profile shows a gain, up to the smallest batch near the best throughput', () => {
    expect(batchingFromProfile([perf(1, 100), perf(2, 104), perf(4, 105)])).toMatchObject({ maxBatchSize: 1 });
    expect(batchingFromProfile([perf(1, 100), perf(2, 150), perf(4, 190), perf(8, 195)])).toMatchObject({ maxBatchSize: 4, maxDelayMs: 5 });
    expect(batchingFromProfile([])).toMatchObject({ maxBatchSize: 1, reason: expect.stringMatching(/no batch-1/) });
  });

  test('shares the cores between workers and gives GPU sessions one worker', () => {
    expect(resolveServingConfig({}, { cores: 2 })).toMatchObject({ workers: 2, threadsPerWorker: 1, maxQueue: 64, workerNice: 10, callTimeoutMs: 0 });
    expect(resolveServingConfig({ workers: 1 }, { cores: 8 })).toMatchObject({ workers: 1, threadsPerWorker: 8 });
    expect(resolveServingConfig({ workers: 'auto' }, { cores: 16, device: 'gpu' })).toMatchObject({ workers: 1 });
    expect(resolveServingConfig({ maxBatchSize: 6 }, { performance: [perf(1, 100)] })).toMatchObject({ maxBatchSize: 6 });
  });

  test('names the property path of each invalid or unknown setting', () => {
    let message = '';
    try {
      resolveServingConfig({ workers: 'many', maxDelayMs: -1, callTimeoutMs: 2.5, queue: 3 }, { module: 'detector' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^module "detector", "serving": invalid serving:/);
    expect(message).toMatch(/serving\.workers: workers must be 'auto' or an integer/);
    expect(message).toMatch(/serving\.maxDelayMs: /);
    expect(message).toMatch(/serving\.callTimeoutMs: callTimeoutMs must be an integer/);
    expect(message).toMatch(/serving\.queue: property queue should not exist/);
  });
});
