import 'reflect-metadata';
import { Type, plainToInstance } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Min,
  ValidateNested,
  ValidationError,
  validateSync,
} from 'class-validator';
import { runnerRegistry } from '../plugins';
import { ModuleStatus, STATUS_FORMAT_VERSION } from '../core/status';

/**
 * The shape of status.json as far as the cache and the binding read it. Anything else in the file
 * (figures, reports) is carried through unread. Checked on every read, so a hand-edited or foreign
 * file is refused with a reason instead of failing later with a TypeError.
 */

/** Run folders are named by Workspace.createRunDir: `run-` and a unique id, nothing else. */
export const RUN_DIR = /^run-[a-z0-9]+(-[a-z0-9]+)*$/;

class VariantSchema {
  @IsString() id!: string;
  @IsObject() settings!: Record<string, string | number | boolean>;
}

class CandidateSchema {
  @IsString() key!: string;
  @IsString() format!: string;
  @IsString() runner!: string;
  @IsDefined() @ValidateNested() @Type(() => VariantSchema) variant!: VariantSchema;
  @IsString() precision!: string;
  @IsOptional() @IsString() file?: string;
  @IsOptional() @IsNumber() sizeBytes?: number;
  @IsOptional() @IsObject() fixedShapes?: Record<string, number[]>;
  @IsIn(['passed', 'failed', 'skipped']) status!: string;
  @IsObject() correctness!: object;
  @IsArray() performance!: object[];
}

class SelectedSchema {
  @IsString() key!: string;
  @IsString() reason!: string;
  @IsOptional() @IsObject() settings?: Record<string, string | number | boolean>;
}

class DecisionSchema {
  @IsString() step!: string;
  @IsString() key!: string;
  @IsString() reason!: string;
  @IsOptional() @IsObject() settings?: Record<string, string | number | boolean>;
}

class SignatureSchema {
  @IsArray() inputs!: object[];
  @IsArray() outputs!: object[];
  @IsObject() batchSizes!: Record<string, number>;
}

class StatusSchema {
  @IsInt() formatVersion!: number;
  @IsString() module!: string;
  @IsString() modelHash!: string;
  @IsString() configHash!: string;
  @Matches(RUN_DIR) runDir!: string;
  @IsDefined() @ValidateNested() @Type(() => SignatureSchema) signature!: SignatureSchema;
  @IsArray() @ValidateNested({ each: true }) @Type(() => CandidateSchema) candidates!: CandidateSchema[];
  @IsString() baseline!: string;
  @IsDefined() @ValidateNested() @Type(() => SelectedSchema) selected!: SelectedSchema;
  @IsArray() @ArrayNotEmpty() @ValidateNested({ each: true }) @Type(() => DecisionSchema) decisions!: DecisionSchema[];
  @IsObject() files!: Record<string, unknown>;
}

class FileDigestSchema {
  @Matches(/^[0-9a-f]{64}$/) sha256!: string;
  @IsInt() @Min(0) size!: number;
}

/**
 * Why `plain`, read from the status.json of `module`, cannot be used; undefined when it can. Besides
 * the shape: the version, the module name, the selected and baseline keys, the selected runner, and
 * every file path (relative, inside the module's folder, with a digest recorded).
 */
export function statusProblem(plain: unknown, module: string): string | undefined {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) return 'it is not a JSON object';
  const version = (plain as { formatVersion?: unknown }).formatVersion;
  if (version !== STATUS_FORMAT_VERSION) return `its formatVersion is ${JSON.stringify(version)}, this version reads ${STATUS_FORMAT_VERSION}`;
  const shape = firstError(validateSync(plainToInstance(StatusSchema, plain), { forbidUnknownValues: false }), 'status');
  if (shape) return shape;
  const status = plain as ModuleStatus & { files: Record<string, unknown> };
  if (status.module !== module) return `it is the status of module ${JSON.stringify(status.module)}, found in the folder of "${module}"`;
  for (const [file, digest] of Object.entries(status.files)) {
    const problem = relativePathProblem(file) ?? firstError(validateSync(plainToInstance(FileDigestSchema, digest ?? {})), `files["${file}"]`);
    if (problem) return `files["${file}"]: ${problem}`;
  }
  const keys = new Set(status.candidates.map((c) => c.key));
  if (!keys.has(status.baseline)) return `its baseline "${status.baseline}" is none of its candidates`;
  if (!keys.has(status.selected.key)) return `its selected candidate "${status.selected.key}" is none of its candidates`;
  for (const candidate of status.candidates) {
    if (candidate.file === undefined) continue;
    const problem = relativePathProblem(candidate.file) ?? (candidate.file.startsWith(`${status.runDir}/`) ? undefined : `is not inside its run folder ${status.runDir}`);
    if (problem) return `candidate ${candidate.key}: file ${JSON.stringify(candidate.file)} ${problem}`;
  }
  const selected = status.candidates.find((c) => c.key === status.selected.key)!;
  if (!runnerRegistry.has(selected.runner)) return `its selected candidate runs on "${selected.runner}", which is not a registered runner`;
  if (selected.file !== undefined && !(selected.file in status.files)) return `no digest is recorded for its selected file ${selected.file}`;
  return undefined;
}

/**
 * Why a path from a status is not a plain relative path inside the module's folder (lexically; the
 * workspace also resolves symlinks before opening anything).
 */
export function relativePathProblem(file: string): string | undefined {
  if (file === '' || file.includes('\0')) return 'is empty or holds a NUL character';
  if (file.startsWith('/') || file.includes('\\') || /^[A-Za-z]:/.test(file)) return 'is not a relative path with / separators';
  if (file.split('/').some((part) => part === '..' || part === '.' || part === '')) return "has a '..', '.' or empty part";
  if (!RUN_DIR.test(file.split('/')[0])) return 'is not inside a run folder';
  return undefined;
}

function firstError(errors: ValidationError[], prefix: string): string | undefined {
  const error = errors[0];
  if (!error) return undefined;
  const where = `${prefix}.${error.property}`;
  const own = Object.values(error.constraints ?? {})[0];
  return own ? `${where}: ${own}` : firstError(error.children ?? [], where);
}
