import * as fs from 'fs';
import * as path from 'path';
import { NavigatorError } from '../core/errors';
import { ParsedMessage, ParsedValue, parsePbtxt } from './pbtxt';
import { ENUMS, FieldSpec, INTEGER_RANGES, MESSAGES, Scalar } from './triton-schema';

/** Bytes per element of Triton's fixed-size data types (TYPE_STRING has none). */
const TRITON_TYPE_BYTES: Record<string, number> = {
  TYPE_BOOL: 1, TYPE_UINT8: 1, TYPE_UINT16: 2, TYPE_UINT32: 4, TYPE_UINT64: 8, TYPE_INT8: 1, TYPE_INT16: 2, TYPE_INT32: 4,
  TYPE_INT64: 8, TYPE_FP16: 2, TYPE_FP32: 4, TYPE_FP64: 8, TYPE_BF16: 2,
};

/**
 * Problems of a config.pbtxt against Triton's model configuration: every field known and of its type
 * (model_config.proto, see triton-schema.ts), and the rules Triton checks when it loads the model
 * (names, dims, batch sizes, instance kinds, warm-up data). With `modelDir`, the files it names too.
 * An empty list means valid.
 */
export function validateTritonConfig(text: string, modelDir?: string): string[] {
  let parsed: ParsedMessage;
  try {
    parsed = parsePbtxt(text);
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
  const problems: string[] = [];
  checkMessage(parsed, 'ModelConfig', 'ModelConfig', problems);
  if (problems.length === 0) checkRules(toPlain(parsed, 'ModelConfig') as Config, modelDir, problems);
  return problems;
}

/** Throws a NavigatorError listing every problem of the written config. */
export function assertValidTritonConfig(file: string): void {
  const problems = validateTritonConfig(fs.readFileSync(file, 'utf8'), path.dirname(file));
  if (problems.length > 0) {
    throw new NavigatorError(`is not a valid Triton model configuration:\n    ${problems.join('\n    ')}`, {
      subject: file,
      fix: "correct the listed fields (Triton's model_config.proto names each field's type)",
    });
  }
}

function checkMessage(fields: ParsedMessage, type: string, where: string, problems: string[]): void {
  if (type === 'Opaque') return;
  const spec = MESSAGES[type];
  const oneofs = new Map<string, string>();
  for (const [name, values] of fields) {
    const field = spec[name];
    if (!field) {
      problems.push(`${where}: ${type} has no field "${name}" (line ${values[0].line}); its fields: ${Object.keys(spec).join(', ')}`);
      continue;
    }
    if (!field.repeated && values.length > 1) problems.push(`${where}.${name}: set ${values.length} times, but it is not repeated`);
    if (field.oneof) {
      const other = oneofs.get(field.oneof);
      if (other) problems.push(`${where}: ${name} and ${other} are both set, but only one of oneof ${field.oneof} may be`);
      oneofs.set(field.oneof, name);
    }
    values.forEach((value, i) => checkValue(value, field, `${where}.${name}${field.repeated ? `[${i}]` : ''}`, problems));
  }
}

function checkValue(value: ParsedValue, field: FieldSpec, where: string, problems: string[]): void {
  const [kind, ...rest] = field.type.split(':');
  if (kind === 'message') {
    if (value.kind !== 'message') return void problems.push(`${where}: expected a ${rest[0]} message { ... }, found a scalar (line ${value.line})`);
    return checkMessage(value.fields, rest[0], where, problems);
  }
  if (kind === 'map') {
    if (value.kind !== 'message') return void problems.push(`${where}: expected a map entry { key: ... value: ... } (line ${value.line})`);
    const [keyType, ...valueType] = rest;
    for (const name of value.fields.keys()) if (name !== 'key' && name !== 'value') problems.push(`${where}: a map entry has only key and value, not "${name}"`);
    const key = value.fields.get('key');
    const entry = value.fields.get('value');
    if (!key || key.length !== 1) problems.push(`${where}: a map entry needs one key`);
    else checkValue(key[0], { type: keyType }, `${where}.key`, problems);
    if (!entry || entry.length !== 1) problems.push(`${where}: a map entry needs one value`);
    else checkValue(entry[0], { type: valueType.join(':') }, `${where}.value`, problems);
    return;
  }
  if (kind === 'enum') {
    const allowed = ENUMS[rest[0]];
    if (value.kind !== 'identifier' || !allowed.includes(value.value)) problems.push(`${where}: expected one of ${allowed.join(', ')} (enum ${rest[0]}), found ${describe(value)}`);
    return;
  }
  checkScalar(value, kind as Scalar, where, problems);
}

function checkScalar(value: ParsedValue, type: Scalar, where: string, problems: string[]): void {
  const wrong = () => problems.push(`${where}: expected ${type}, found ${describe(value)} (line ${value.line})`);
  if (type === 'string') return void (value.kind !== 'string' && wrong());
  if (type === 'bool') return void (!(value.kind === 'identifier' && ['true', 'false', 'True', 'False', 't', 'f'].includes(value.value)) && !(value.kind === 'number' && /^[01]$/.test(value.text)) && wrong());
  if (type === 'float' || type === 'double') return void (value.kind !== 'number' && !(value.kind === 'identifier' && /^-?(inf|nan)/i.test(value.value)) && wrong());
  if (value.kind !== 'number' || !/^-?\d+$/.test(value.text)) return void wrong();
  const [lo, hi] = INTEGER_RANGES[type]!;
  const n = BigInt(value.text);
  if (n < lo || n > hi) problems.push(`${where}: ${value.text} is outside ${type} (${lo} to ${hi})`);
}

function describe(value: ParsedValue): string {
  if (value.kind === 'message') return 'a message';
  if (value.kind === 'string') return JSON.stringify(value.value);
  return value.kind === 'number' ? value.text : value.value;
}

type Plain = string | number | boolean | Plain[] | { [key: string]: Plain };
type Tensor = { name?: string; data_type?: string; dims?: number[]; optional?: boolean; reshape?: unknown };
type Config = {
  name?: string; backend?: string; platform?: string; max_batch_size?: number; default_model_filename?: string;
  input?: Tensor[]; output?: Tensor[];
  dynamic_batching?: { preferred_batch_size?: number[] };
  instance_group?: { kind?: string; count?: number; gpus?: number[] }[];
  model_warmup?: { name?: string; batch_size?: number; inputs?: { key: string; value: { data_type?: string; dims?: number[]; zero_data?: boolean; random_data?: boolean; input_data_file?: string } }[] }[];
};

/** The parsed (and type-checked) message as plain values: numbers, booleans, enum names, arrays for repeated fields. */
function toPlain(fields: ParsedMessage, type: string): Plain {
  const out: Record<string, Plain> = {};
  for (const [name, values] of fields) {
    const field = MESSAGES[type]?.[name];
    const plain = values.map((v) => valueOf(v, field?.type ?? 'Opaque'));
    out[name] = field?.repeated ? plain : plain[0];
  }
  return out;
}

function valueOf(value: ParsedValue, type: string): Plain {
  if (value.kind === 'message') {
    const [kind, ...rest] = type.split(':');
    if (kind === 'map') {
      const [keyType, ...valueType] = rest;
      return { key: valueOf(value.fields.get('key')![0], keyType), value: valueOf(value.fields.get('value')![0], valueType.join(':')) };
    }
    return toPlain(value.fields, kind === 'message' ? rest[0] : '');
  }
  if (value.kind === 'number') return Number(value.text);
  if (value.kind === 'identifier' && type === 'bool') return value.value.toLowerCase().startsWith('t');
  return value.value;
}

/** What Triton itself rejects when loading a model, beyond the types. */
function checkRules(config: Config, modelDir: string | undefined, problems: string[]): void {
  if (!config.backend && !config.platform) problems.push('ModelConfig: neither backend nor platform is set: Triton cannot tell which backend runs the model');
  if (modelDir && config.name !== undefined && config.name !== path.basename(modelDir)) problems.push(`ModelConfig.name "${config.name}" differs from the model's folder name "${path.basename(modelDir)}"`);
  const maxBatch = config.max_batch_size ?? 0;
  if (maxBatch < 0) problems.push(`ModelConfig.max_batch_size ${maxBatch} is negative`);
  for (const side of ['input', 'output'] as const) {
    const tensors = config[side] ?? [];
    const names = new Set<string>();
    tensors.forEach((t, i) => {
      const where = `ModelConfig.${side}[${i}]`;
      if (!t.name) problems.push(`${where}: has no name`);
      else if (names.has(t.name)) problems.push(`${where}: name "${t.name}" appears twice`);
      else names.add(t.name);
      if (!t.data_type || t.data_type === 'TYPE_INVALID') problems.push(`${where}: data_type is not set`);
      if ((t.dims ?? []).length === 0 && maxBatch > 0) problems.push(`${where}: dims are not set; a batched input of shape [batch] is written dims: 1 with reshape { shape: [] }`);
      for (const d of t.dims ?? []) if (d !== -1 && d < 1) problems.push(`${where}: dim ${d} is neither -1 (dynamic) nor positive`);
    });
  }
  for (const size of config.dynamic_batching?.preferred_batch_size ?? []) {
    if (maxBatch === 0) problems.push('ModelConfig.dynamic_batching: needs max_batch_size > 0 (the model does not batch)');
    else if (size < 1 || size > maxBatch) problems.push(`ModelConfig.dynamic_batching.preferred_batch_size ${size} is outside 1..max_batch_size (${maxBatch})`);
  }
  (config.instance_group ?? []).forEach((group, i) => {
    if (group.count !== undefined && group.count < 1) problems.push(`ModelConfig.instance_group[${i}].count ${group.count} must be at least 1`);
    if ((group.kind === 'KIND_CPU' || group.kind === 'KIND_MODEL') && (group.gpus ?? []).length > 0) problems.push(`ModelConfig.instance_group[${i}]: ${group.kind} cannot name gpus`);
  });
  (config.model_warmup ?? []).forEach((warmup, i) => checkWarmup(warmup, `ModelConfig.model_warmup[${i}]`, config, maxBatch, modelDir, problems));
  if (modelDir) {
    const versions = fs.readdirSync(modelDir).filter((entry) => /^\d+$/.test(entry) && fs.statSync(path.join(modelDir, entry)).isDirectory());
    if (versions.length === 0) problems.push(`${modelDir}: has no numbered version folder (e.g. 1/)`);
    const file = config.default_model_filename ?? 'model.onnx';
    for (const version of versions) if (!fs.existsSync(path.join(modelDir, version, file))) problems.push(`${path.join(modelDir, version)}: has no ${file}`);
  }
}

function checkWarmup(warmup: NonNullable<Config['model_warmup']>[number], where: string, config: Config, maxBatch: number, modelDir: string | undefined, problems: string[]): void {
  const batch = warmup.batch_size ?? 0;
  if (batch < 1 || batch > Math.max(1, maxBatch)) problems.push(`${where}.batch_size ${batch} is outside 1..${Math.max(1, maxBatch)}`);
  const entries = new Map((warmup.inputs ?? []).map((e) => [e.key, e.value]));
  for (const input of config.input ?? []) if (input.name && !input.optional && !entries.has(input.name)) problems.push(`${where}: gives no data for input "${input.name}"`);
  for (const [name, data] of entries) {
    const input = (config.input ?? []).find((t) => t.name === name);
    if (!input) problems.push(`${where}: input "${name}" is not an input of the model`);
    else if (input.data_type !== data.data_type) problems.push(`${where}.inputs["${name}"]: data_type ${data.data_type} differs from the input's ${input.data_type}`);
    if ((data.dims ?? []).some((d) => d < 1)) problems.push(`${where}.inputs["${name}"]: dims must be concrete (no -1)`);
    if (data.zero_data === undefined && data.random_data === undefined && data.input_data_file === undefined) problems.push(`${where}.inputs["${name}"]: sets none of zero_data, random_data, input_data_file`);
    if (data.input_data_file !== undefined && modelDir) {
      const file = path.join(modelDir, 'warmup', data.input_data_file);
      const bytes = (data.dims ?? []).reduce((a, b) => a * b, 1) * (TRITON_TYPE_BYTES[data.data_type ?? ''] ?? 0);
      if (!fs.existsSync(file)) problems.push(`${where}.inputs["${name}"]: ${file} does not exist (warm-up files sit in <model>/warmup/)`);
      else if (bytes && fs.statSync(file).size !== bytes) problems.push(`${where}.inputs["${name}"]: ${file} has ${fs.statSync(file).size} bytes, dims and type need ${bytes}`);
    }
  }
}
