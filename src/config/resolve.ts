import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { NavigatorError } from '../errors';
import type { Precision } from '../formats/format';
import { formatRegistry, runnerRegistry } from '../plugins';
import type { CalibrationSettings, ModuleConfig, ProfilingSettings, Tolerance } from './module-config';
import { ModuleConfigInput, OptimizeConfigInput } from './optimize-config';
import { strategies } from './strategy';

/** What users pass: plain objects shaped like the validated classes. */
export type ModuleOptimizeConfig = ModuleConfigInput;
export type OptimizeConfig = OptimizeConfigInput;

/**
 * Default tolerances: a candidate passes when max |candidate - source| <= atol + rtol * max |source|
 * for every output. Lower precisions get looser bounds; the end-to-end check guards the pipeline.
 */
export const defaultTolerances: Record<Precision, Tolerance> = {
  fp32: { atol: 1e-5, rtol: 1e-4 },
  tf32: { atol: 1e-4, rtol: 5e-3 },
  fp16: { atol: 1e-3, rtol: 1e-2 },
  bf16: { atol: 1e-2, rtol: 5e-2 },
  // Judged on each whole output: int8 moves every element a little, a few of them more.
  int8: { atol: 1e-2, rtol: 0.1, maxRelL2: 0.05, minCosine: 0.995 },
  fp8: { atol: 1e-2, rtol: 0.1 },
  int4: { atol: 1e-2, rtol: 0.15 },
};

export const defaultCalibration: CalibrationSettings = { method: 'minmax', samples: 8, percentile: 99.999 };

export const defaultProfiling: ProfilingSettings = {
  windowMs: 100,
  stabilityPercent: 10,
  stableWindows: 3,
  maxWindows: 10,
  saturationPercent: 5,
};

/**
 * Checks a user's config with class-validator before any work starts. Unknown properties are
 * rejected too, so that a misspelt setting is not silently ignored.
 */
export function validateConfig<T extends object>(
  cls: new () => T,
  plain: unknown,
  where: { module?: string; what: string },
): T {
  if (plain instanceof cls) plain = { ...plain };
  if (plain === undefined) plain = {};
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new NavigatorError(`${where.what} must be an object`, { module: where.module, subject: where.what });
  }
  const instance = plainToInstance(cls, plain);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
  if (errors.length > 0) {
    const lines = flattenErrors(errors, where.what).map((line) => `    - ${line}`);
    throw new NavigatorError(`invalid ${where.what}:\n${lines.join('\n')}`, {
      module: where.module,
      subject: where.what,
      fix: 'correct the properties listed above (see OptimizeConfig in the README)',
    });
  }
  return instance;
}

/** One line per failed constraint, each with the full property path, e.g. `tolerances.fp16.rtol`. */
function flattenErrors(errors: ValidationError[], prefix: string): string[] {
  return errors.flatMap((error) => {
    const path = `${prefix}.${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) => `${path}: ${message}`);
    return [...own, ...flattenErrors(error.children ?? [], path)];
  });
}

/** Completes a validated config with defaults. */
export function resolveModuleConfig(input: ModuleConfigInput): ModuleConfig {
  const tolerances = { ...defaultTolerances };
  for (const [precision, tolerance] of Object.entries(input.tolerances ?? {})) {
    if (tolerance) tolerances[precision as Precision] = { atol: tolerance.atol, rtol: tolerance.rtol, ...definedOnly({ maxRelL2: tolerance.maxRelL2, minCosine: tolerance.minCosine }) };
  }
  return {
    targetFormats: input.targetFormats ?? formatRegistry.names(),
    runners: input.runners ?? runnerRegistry.names(),
    batchSizes: input.batchSizes ?? [],
    maxBatchSize: input.maxBatchSize,
    sampleCount: input.sampleCount ?? 8,
    tolerances,
    strategy: input.strategy ?? strategies.observedLatency(),
    verifyFunc: input.verifyFunc,
    profiling: { ...defaultProfiling, ...definedOnly(input.profiling ?? {}) },
    fp16KeepOps: input.fp16KeepOps ?? [],
    calibration: { ...defaultCalibration, ...definedOnly(input.calibration ?? {}) },
  };
}

/** The module-level fields of a global config, for modules that have no config of their own. */
export function moduleFieldsOf(config: OptimizeConfigInput): ModuleConfigInput {
  const { call: _call, workspace: _workspace, force: _force, verbose: _verbose, endToEnd: _e2e, ...moduleFields } = config;
  return moduleFields;
}

export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
