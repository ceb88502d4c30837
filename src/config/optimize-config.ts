import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInstance,
  IsNotEmpty,
  IsInt,
  IsNumber,
  IsOptional,
  IsObject,
  IsPositive,
  IsString,
  Max,
  Min,
  ValidateNested,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';
import { STRATEGY_TYPES, type CalibrationMethod, type Strategy, type VerifyFunc } from '../core/config';
import { PRECISIONS } from '../core/precision';
import { formatRegistry, runnerRegistry } from '../plugins';

/** Names must be registered formats or runners; checked against the registries at validation time. */
function IsRegisteredName(kind: 'format' | 'runner', options?: ValidationOptions): PropertyDecorator {
  const registry = () => (kind === 'format' ? formatRegistry : runnerRegistry);
  return ValidateBy(
    {
      name: `isRegistered${kind}`,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && registry().has(value),
        defaultMessage: (args) => {
          const unknown = [args?.value].flat().find((v) => !(typeof v === 'string' && registry().has(v)));
          return `${args?.property} has unknown ${kind} ${JSON.stringify(unknown)}; valid: ${registry().names().join(', ')}`;
        },
      },
    },
    { ...options, each: true },
  );
}

function IsStrategy(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStrategy',
      validator: {
        validate: (value: unknown) => strategyProblem(value) === undefined,
        defaultMessage: (args) => `$property ${strategyProblem(args?.value) ?? 'is invalid'}`,
      },
    },
    options,
  );
}

function strategyProblem(value: unknown): string | undefined {
  const s = value as Partial<Record<string, unknown>> | undefined;
  if (!s || typeof s !== 'object' || !(STRATEGY_TYPES as readonly string[]).includes(String(s.type))) {
    return `must be one of strategies.${STRATEGY_TYPES.join('(), strategies.')}()`;
  }
  if (s.type === 'maxThroughputWithLatencyBudget' && !(typeof s.latencyBudgetMs === 'number' && s.latencyBudgetMs > 0)) {
    return 'needs a positive latencyBudgetMs';
  }
  if (s.type === 'selected' && !(typeof s.format === 'string' && typeof s.runner === 'string')) {
    return 'needs a format and a runner name';
  }
  return undefined;
}

export class ToleranceInput {
  @IsNumber() @Min(0) atol!: number;
  @IsNumber() @Min(0) rtol!: number;
  /** Judge each output as a whole instead: highest ||candidate - source|| / ||source||. */
  @IsOptional() @IsNumber() @Min(0) maxRelL2?: number;
  /** Judge each output as a whole instead: lowest cosine similarity with the source's. */
  @IsOptional() @IsNumber() @Min(-1) @Max(1) minCosine?: number;
}

export class CalibrationInput {
  /** How activation ranges are computed from the recorded calls. @default 'minmax' */
  @IsOptional() @IsIn(['minmax', 'percentile', 'entropy']) method?: CalibrationMethod;
  /** How many recorded calls calibrate static int8 (the first ones). @default 8 */
  @IsOptional() @IsInt() @Min(1) @Max(1000) samples?: number;
  /** For method 'percentile': the percentile of |x| kept. @default 99.999 */
  @IsOptional() @IsNumber() @Min(50) @Max(100) percentile?: number;
}

/** One optional ToleranceInput per precision of PRECISIONS (the decorators are applied below, from that one list). */
export class TolerancesInput {
  [precision: string]: ToleranceInput | undefined;
}
for (const precision of PRECISIONS) {
  for (const decorate of [IsOptional(), ValidateNested(), Type(() => ToleranceInput)]) decorate(TolerancesInput.prototype, precision);
}

export class ProfilingInput {
  @IsOptional() @IsNumber() @Min(1) @Max(60_000) windowMs?: number;
  @IsOptional() @IsNumber() @IsPositive() @Max(100) stabilityPercent?: number;
  @IsOptional() @IsInt() @Min(1) @Max(20) stableWindows?: number;
  @IsOptional() @IsInt() @Min(1) @Max(100) maxWindows?: number;
  @IsOptional() @IsNumber() @Min(0) @Max(1000) saturationPercent?: number;
}

export class EndToEndInput {
  /** Whether to run the whole pipeline with the chosen lower-precision candidates before committing to them. */
  @IsOptional() @IsBoolean() enabled?: boolean;
  /** Lowest acceptable cosine similarity of each final pipeline output with the original's. */
  @IsOptional() @IsNumber() @Min(-1) @Max(1) minCosine?: number;
  /** Highest acceptable relative L2 error (||a - b|| / ||b||) of each final pipeline output. */
  @IsOptional() @IsNumber() @Min(0) maxRelativeError?: number;
  /** A metric of your own instead: (candidate results, original results) => whether they agree. */
  @IsOptional() @IsInstance(Function, { message: '$property must be a function (candidateResults, originalResults) => boolean' })
  compare?: (candidate: unknown[], original: unknown[]) => boolean;
}

/**
 * Settings of a module (through `@optimizeConfig`, `module.optimizeConfig` or the global config of
 * `optimize`). Every field is optional; defaults are in `resolveModuleConfig`.
 */
export class ModuleConfigInput {
  /** Formats to try, e.g. ['onnx', 'onnx-optimized', 'onnx-int8']. @default every registered format */
  @IsOptional() @IsArray() @ArrayNotEmpty() @IsRegisteredName('format') targetFormats?: string[];
  /** Runners to try, e.g. ['OnnxCPU', 'OnnxWebGPU']. @default every registered runner */
  @IsOptional() @IsArray() @ArrayNotEmpty() @IsRegisteredName('runner') runners?: string[];
  /** Module batch sizes to profile besides the observed ones. @default powers of two up to maxBatchSize */
  @IsOptional() @IsArray() @IsInt({ each: true }) @IsPositive({ each: true }) batchSizes?: number[];
  /** Largest batch size to profile. @default the largest observed */
  @IsOptional() @IsInt() @IsPositive() maxBatchSize?: number;
  /** Recorded calls kept on disk for correctness checks. @default 8 */
  @IsOptional() @IsInt() @Min(1) @Max(1000) sampleCount?: number;
  /** Per-precision tolerances; see Tolerance. */
  @IsOptional() @ValidateNested() @Type(() => TolerancesInput) tolerances?: TolerancesInput;
  /** How the best candidate is chosen. @default strategies.observedLatency() */
  @IsOptional() @IsStrategy() strategy?: Strategy;
  @IsOptional() @IsInstance(Function, { message: '$property must be a function (candidate, source) => boolean' })
  verifyFunc?: VerifyFunc;
  @IsOptional() @ValidateNested() @Type(() => ProfilingInput) profiling?: ProfilingInput;
  /**
   * Each format's own options, by format name, e.g. `{ 'onnx-fp16': { keepOps: ['Softmax'] } }`:
   * checked against the format's options class (Format.options) when the config is validated.
   */
  @IsOptional() @IsObject() formatOptions?: Record<string, object>;
  /** Calibration of static int8 (onnx-int8-static, and trt-int8 built from it) over the recorded calls. */
  @IsOptional() @ValidateNested() @Type(() => CalibrationInput) calibration?: CalibrationInput;
}

/** The global config of `optimize`: module settings plus those of the whole run. */
export class OptimizeConfigInput extends ModuleConfigInput {
  /** How to run one dataloader item through a pipeline instance: (pipeline, ...args) => Promise. */
  @IsOptional() @IsInstance(Function, { message: '$property must be a function (pipeline, ...args) => Promise' })
  call?: (pipeline: never, ...args: never[]) => unknown;
  /** Where packages are stored. @default process.env.NAV_CACHE_DIR ?? '.nav-cache' in the nearest folder up from the current one with a package.json */
  @IsOptional() @IsString() @IsNotEmpty() workspace?: string;
  /** How long optimize waits for another optimize of the same workspace (any process) before failing. @default 600000 */
  @IsOptional() @IsInt() @Min(0) lockTimeoutMs?: number;
  /** Re-optimize even where a cached result matches. @default false */
  @IsOptional() @IsBoolean() force?: boolean;
  /** Progress lines and the final table on stderr. @default true */
  @IsOptional() @IsBoolean() verbose?: boolean;
  @IsOptional() @ValidateNested() @Type(() => EndToEndInput) endToEnd?: EndToEndInput;
}
