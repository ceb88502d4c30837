/**
 * Node attributes from plain JS values, for the builder.
 *
 * JS has one number type, ONNX has INT and FLOAT, so the rule is:
 * - an integer-valued number is INT, any other number FLOAT (axis: -1 → INT, epsilon: 1e-5 → FLOAT);
 * - except attributes that are FLOAT in every standard op that has them (alpha, beta, gamma,
 *   epsilon, ... see FLOAT_NAMED), which are FLOAT even when integer-valued (Gemm alpha: 1);
 * - a number[] is INTS if every element is an integer, else FLOATS; [] is INTS;
 *   a Float32Array is always FLOATS;
 * - to force a type, wrap the value: attr.float(2), attr.floats([1, 2]), attr.int(3), attr.ints([]);
 *   f(2) is short for attr.float(2);
 * - bigint → INT (for values beyond 2^53, e.g. INT64_MAX), string → STRING, string[] → STRINGS,
 *   { data, dims, dtype? } → TENSOR, attr.graph(g) → GRAPH.
 */
import { NavigatorError } from '../core/errors';
import { AttributeType, type AttributeProto, type GraphProto, type TensorProto } from './messages';
import { tensorFromArray, type ArrayData } from './tensor-data';

/** A tensor-valued attribute (e.g. Constant's value). dtype defaults from the array type. */
export interface TensorValue {
  data: ArrayData;
  dims: number[];
  dtype?: string;
}

/** A value whose ONNX attribute type is given explicitly. */
export class TypedAttribute {
  constructor(
    readonly type: number,
    readonly value: number | bigint | readonly (number | bigint)[] | string | readonly string[] | TensorProto | GraphProto | readonly GraphProto[],
  ) {}
}

export type AttributeValue =
  | number
  | bigint
  | number[]
  | string
  | string[]
  | Float32Array
  | TensorValue
  | TypedAttribute;

export const attr = {
  float: (value: number) => new TypedAttribute(AttributeType.FLOAT, value),
  floats: (values: readonly number[]) => new TypedAttribute(AttributeType.FLOATS, values),
  int: (value: number | bigint) => new TypedAttribute(AttributeType.INT, value),
  ints: (values: readonly (number | bigint)[]) => new TypedAttribute(AttributeType.INTS, values),
  string: (value: string) => new TypedAttribute(AttributeType.STRING, value),
  strings: (values: readonly string[]) => new TypedAttribute(AttributeType.STRINGS, values),
  tensor: (tensor: TensorProto) => new TypedAttribute(AttributeType.TENSOR, tensor),
  graph: (graph: GraphProto) => new TypedAttribute(AttributeType.GRAPH, graph),
  graphs: (graphs: readonly GraphProto[]) => new TypedAttribute(AttributeType.GRAPHS, graphs),
};

/** Short for attr.float: an integer-valued number that must be FLOAT. */
export const f = attr.float;

/** Attributes that are FLOAT wherever a standard (or com.microsoft) op declares them. */
const FLOAT_NAMED = new Set([
  'alpha', 'beta', 'gamma', 'epsilon', 'momentum', 'lambd', 'bias', 'spatial_scale', 'scale', 'ratio',
  'mean', 'low', 'high', 'cubic_coeff_a', 'extrapolation_value', 'threshold', 'min', 'max', 'mask_filter_value',
]);
const FLOATS_NAMED = new Set(['scales']);

const utf8 = new TextEncoder();

export function toAttributeProto(name: string, value: AttributeValue, nodeLabel: string): AttributeProto {
  if (value instanceof TypedAttribute) return typed(name, value.type, value.value, nodeLabel);
  if (typeof value === 'number') {
    return typed(name, Number.isInteger(value) && !FLOAT_NAMED.has(name) ? AttributeType.INT : AttributeType.FLOAT, value, nodeLabel);
  }
  if (typeof value === 'bigint') return typed(name, AttributeType.INT, value, nodeLabel);
  if (typeof value === 'string') return typed(name, AttributeType.STRING, value, nodeLabel);
  if (value instanceof Float32Array) return typed(name, AttributeType.FLOATS, Array.from(value), nodeLabel);
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item === 'string')) {
      return typed(name, value.length === 0 ? AttributeType.INTS : AttributeType.STRINGS, value, nodeLabel);
    }
    const numbers = value as number[];
    const floats = FLOATS_NAMED.has(name) || !numbers.every((item) => Number.isInteger(item));
    return typed(name, floats ? AttributeType.FLOATS : AttributeType.INTS, numbers, nodeLabel);
  }
  if (typeof value === 'object' && value !== null && 'data' in value && 'dims' in value) {
    return typed(name, AttributeType.TENSOR, tensorFromArray('', value.data, value.dims, value.dtype), nodeLabel);
  }
  throw bad(name, nodeLabel, `unsupported attribute value ${String(value)}`);
}

function typed(name: string, type: number, value: TypedAttribute['value'], nodeLabel: string): AttributeProto {
  const attribute: AttributeProto = { name, type };
  switch (type) {
    case AttributeType.FLOAT: attribute.f = checkNumber(value, name, nodeLabel); break;
    case AttributeType.INT: attribute.i = checkInteger(value, name, nodeLabel); break;
    case AttributeType.STRING: attribute.s = utf8.encode(String(value)); break;
    case AttributeType.FLOATS: attribute.floats = asArray(value, name, nodeLabel).map((v) => checkNumber(v, name, nodeLabel)); break;
    case AttributeType.INTS: attribute.ints = asArray(value, name, nodeLabel).map((v) => checkInteger(v, name, nodeLabel)); break;
    case AttributeType.STRINGS: attribute.strings = asArray(value, name, nodeLabel).map((v) => utf8.encode(String(v))); break;
    case AttributeType.TENSOR: attribute.t = value as TensorProto; break;
    case AttributeType.GRAPH: attribute.g = value as GraphProto; break;
    case AttributeType.GRAPHS: attribute.graphs = [...(value as GraphProto[])]; break;
    default: throw bad(name, nodeLabel, `attribute type ${type} is not supported by the builder`);
  }
  return attribute;
}

function checkNumber(value: unknown, name: string, nodeLabel: string): number {
  if (typeof value !== 'number') throw bad(name, nodeLabel, `expected a number, got ${String(value)}`);
  return value;
}

function checkInteger(value: unknown, name: string, nodeLabel: string): number | bigint {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw bad(name, nodeLabel, `expected an integer, got ${String(value)}`);
  }
  return value;
}

function asArray(value: unknown, name: string, nodeLabel: string): unknown[] {
  if (!Array.isArray(value)) throw bad(name, nodeLabel, `expected a list, got ${String(value)}`);
  return value;
}

function bad(name: string, nodeLabel: string, problem: string): NavigatorError {
  return new NavigatorError(`${nodeLabel}, attribute "${name}": ${problem}`, {
    fix: 'wrap the value to say its type: attr.float(x), attr.floats([...]), attr.int(n), attr.ints([...])',
  });
}
