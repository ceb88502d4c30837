import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { NavigatorError } from '../core/errors';
import type { Precision } from '../core/precision';
import type { Format } from '../core/plugin';
import { formatRegistry, runnerRegistry } from '../plugins';
import type { CalibrationSettings, ModuleConfig, ProfilingSettings, Tolerance } from '../core/config';
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
  // Format options are checked against the class of the format they name, known only at run time.
  const problems = errors.length > 0
    ? flattenErrors(errors, where.what)
    : formatOptionsProblems((instance as { formatOptions?: Record<string, unknown> }).formatOptions ?? {}, `${where.what}.formatOptions`);
  if (problems.length > 0) {
    throw new NavigatorError(`invalid ${where.what}:\n${problems.map((line) => `    - ${line}`).join('\n')}`, {
      module: where.module,
      subject: where.what,
      fix: 'correct the properties listed above (see OptimizeConfig in the README)',
    });
  }
  return instance;
}

/** Each entry of formatOptions names a registered format and passes that format's options class. */
function formatOptionsProblems(formatOptions: Record<string, unknown>, prefix: string): string[] {
  return Object.entries(formatOptions).flatMap(([name, options]) => {
    if (!formatRegistry.has(name)) return [`${prefix}.${name}: unknown format; valid: ${formatRegistry.names().join(', ')}`];
    const optionsClass = formatRegistry.get(name).options;
    if (!optionsClass) return [`${prefix}.${name}: the format "${name}" takes no options`];
    if (typeof options !== 'object' || options === null || Array.isArray(options)) return [`${prefix}.${name}: must be an object`];
    const errors = validateSync(plainToInstance(optionsClass, options), { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
    return flattenErrors(errors, `${prefix}.${name}`);
  });
}

/** Validated options (see formatOptionsProblems) as instances of each format's options class, defaults included. */
function resolveFormatOptions(formatOptions: Record<string, object>): Record<string, object> {
  return Object.fromEntries(
    Object.entries(formatOptions).map(([name, options]) => [name, plainToInstance(formatRegistry.get(name).options!, options)]),
  );
}

/** A format's options from a resolved module config: the user's, or the defaults of its options class. */
export function optionsFor<Options extends object>(format: Format<Options>, config: ModuleConfig): Options {
  return (config.formatOptions[format.name] as Options | undefined) ?? (format.options ? new format.options() : ({} as Options));
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
    formatOptions: resolveFormatOptions(input.formatOptions ?? {}),
    calibration: { ...defaultCalibration, ...definedOnly(input.calibration ?? {}) },
  };
}

/** The module-level fields of a global config, for modules that have no config of their own. */
export function moduleFieldsOf(config: OptimizeConfigInput): ModuleConfigInput {
  const { call: _call, workspace: _workspace, force: _force, verbose: _verbose, endToEnd: _e2e, lockTimeoutMs: _lock, ...moduleFields } = config;
  return moduleFields;
}

export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
