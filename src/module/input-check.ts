import type { InferenceSession } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { TensorSpec } from '../core/signature';

/** What a module expects of its inputs: the model's own metadata, and what capture saw of its calls. */
export interface Expected {
  /** onnxruntime's metadata of the original model: names, dtypes, ranks and fixed sizes. */
  model?: readonly InferenceSession.ValueMetadata[];
  /** What capture saw (a rebound module whose model was never loaded in this process): names, dtypes, ranks. */
  seen?: readonly TensorSpec[];
}

/** Shape keys kept per module: past this many distinct ones (e.g. a free sequence length), start over. */
const MAX_KEYS = 1024;

/**
 * Checks the feeds of a call against what the module expects, before onnxruntime sees them, so that
 * a wrong input is reported with the module's name and the fix. Each distinct set of names, dtypes
 * and shapes is checked once; later calls with it cost one string key and a set lookup.
 */
export class InputCheck {
  private readonly passed = new Set<string>();

  constructor(
    private readonly module: string | undefined,
    private readonly expected: Expected,
    /** Whether the module maps its inputs (the fix then points at inputMapping). */
    private readonly mapped: boolean,
  ) {}

  /** The last feeds that passed, as [name, type, dims] per input: most calls repeat it, and comparing allocates nothing. */
  private last: [string, string, readonly number[]][] = [];

  check(feeds: Feeds): void {
    if (this.sameAsLast(feeds)) return;
    const key = shapeKey(feeds);
    if (!this.passed.has(key)) {
      this.explain(feeds);
      if (this.passed.size >= MAX_KEYS) this.passed.clear();
      this.passed.add(key);
    }
    // Non-tensor inputs (sequences, maps) have no dims: such feeds are keyed every call.
    this.last = Object.values(feeds).every((t) => t?.dims) ? Object.entries(feeds).map(([name, t]) => [name, t.type, [...t.dims]]) : [];
  }

  private sameAsLast(feeds: Feeds): boolean {
    const last = this.last;
    let i = 0;
    for (const name in feeds) {
      const value = feeds[name];
      const seen = last[i++];
      if (seen === undefined || seen[0] !== name || value?.type !== seen[1]) return false;
      const [dims, seenDims] = [value.dims, seen[2]];
      if (dims.length !== seenDims.length) return false;
      for (let axis = 0; axis < dims.length; axis++) if (dims[axis] !== seenDims[axis]) return false;
    }
    return i === last.length && i > 0;
  }

  /** Throws the first problem found, naming the input, what was expected and the fix. */
  private explain(feeds: Feeds): void {
    const specs = this.specs();
    const where = this.mapped ? 'in inputMapping' : 'in the feeds';
    const takes = specs.map((s) => `${s.name} (${s.dtype ?? '?'} [${s.dims.join(', ')}])`).join(', ');
    for (const name of Object.keys(feeds)) {
      if (!specs.some((s) => s.name === name)) {
        throw this.error(name, `the model has no input "${name}"; it takes ${takes}`, `remove it or correct its name ${where}`);
      }
    }
    for (const spec of specs) {
      const value = feeds[spec.name];
      if (value === undefined || value === null) {
        throw this.error(spec.name, `input "${spec.name}" is missing; the model takes ${takes}`, `pass every input the model takes ${where}`);
      }
      if (spec.dtype === undefined) continue; // not a tensor (sequence, map): onnxruntime checks it
      if (typeof value !== 'object' || !('dims' in value)) {
        throw this.error(spec.name, `input "${spec.name}" is ${typeof value}, not a Tensor`, `pass an onnxruntime Tensor, e.g. new Tensor('${spec.dtype}', data, [${spec.dims.join(', ')}])`);
      }
      const got = `${value.type} [${value.dims.join(', ')}]`;
      const wanted = `${spec.dtype} [${spec.dims.join(', ')}]${spec.seen ? `; capture saw ${spec.seen}` : ''}`;
      if (value.type !== spec.dtype) {
        throw this.error(spec.name, `input "${spec.name}" is ${got}; the model takes ${wanted}`, `create it as new Tensor('${spec.dtype}', ...) ${where}`);
      }
      if (value.dims.length !== spec.dims.length) {
        throw this.error(spec.name, `input "${spec.name}" has ${value.dims.length} dims (${got}); the model takes ${spec.dims.length} (${wanted})`, `reshape it to [${spec.dims.join(', ')}] ${where}`);
      }
      spec.dims.forEach((size, axis) => {
        if (typeof size === 'number' && size >= 0 && value.dims[axis] !== size) {
          throw this.error(spec.name, `input "${spec.name}" has size ${value.dims[axis]} on axis ${axis} (${got}); the model takes ${size} there (${wanted})`, `make axis ${axis} ${size} long ${where}`);
        }
      });
    }
  }

  /** Model metadata first (fixed sizes are the model's own); capture's view adds its ranges, or stands in. */
  private specs(): { name: string; dtype?: string; dims: (number | string)[]; seen?: string }[] {
    const seen = new Map((this.expected.seen ?? []).map((s) => [s.name, s]));
    const range = (s: TensorSpec | undefined) => s && `[${s.min.map((lo, axis) => (lo === s.max[axis] ? lo : `${lo}..${s.max[axis]}`)).join(', ')}]`;
    if (this.expected.model) {
      return this.expected.model.map((m) => ({
        name: m.name,
        dtype: m.isTensor ? m.type : undefined,
        dims: m.isTensor ? [...m.shape] : [],
        seen: range(seen.get(m.name)),
      }));
    }
    // Capture's sizes are what the dataloader used, not what the model allows: only dtype and rank are checked.
    return [...seen.values()].map((s) => ({ name: s.name, dtype: s.dtype, dims: s.shape.map((size, axis) => (size === null ? `d${axis}` : `~${size}`)), seen: range(s) }));
  }

  private error(input: string, problem: string, fix: string): NavigatorError {
    return new NavigatorError(problem, { module: this.module, subject: input, fix });
  }
}

/** One string per distinct set of input names, dtypes and shapes. */
function shapeKey(feeds: Feeds): string {
  let key = '';
  for (const name in feeds) {
    const value = feeds[name];
    key += value && value.dims ? `${name}:${value.type}:${value.dims.join(',')};` : `${name}:?;`;
  }
  return key;
}
