import * as path from 'path';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import { describeShape } from '../tensors';
import { writeSample } from './sample-store';
import type { ModuleSignature, TensorSpec } from '../core/signature';

interface ShapeGroup {
  count: number;
  inputs: Record<string, number[]>;
  outputs: Record<string, number[]>;
  kept: number;
}

/**
 * Records a module's calls while the pipeline runs over the dataloader. Shapes of every call are
 * counted in memory; the tensors of at most `sampleCount` calls go to disk, spread over the distinct
 * shapes seen, so a long dataloader never fills the memory; they are the correctness samples and
 * the calibration data of static int8.
 */
export class CallRecorder {
  private readonly groups = new Map<string, ShapeGroup>();
  private readonly dtypes = new Map<string, string>();
  private readonly files: string[] = [];
  /** The shape key of each kept file, to find a sample of the most frequent shape without reading any. */
  private readonly fileKeys: string[] = [];
  private calls = 0;

  constructor(
    private readonly module: string,
    private readonly sampleDir: string,
    private readonly sampleCount: number,
    private readonly batching: boolean,
  ) {}

  get sampleFiles(): readonly string[] {
    return this.files;
  }

  record(inputs: Feeds, outputs: Feeds): void {
    this.calls++;
    const key = shapeKey(inputs);
    let group = this.groups.get(key);
    if (!group) {
      group = { count: 0, inputs: dimsOf(inputs), outputs: dimsOf(outputs), kept: 0 };
      this.groups.set(key, group);
    }
    group.count++;
    for (const [name, tensor] of [...Object.entries(inputs), ...Object.entries(outputs)]) this.checkType(name, tensor.type);
    // Keep a couple of calls of each shape until the budget is used, so every shape gets checked;
    // more of any shape while half the budget is left (static int8 calibrates on these calls, and
    // shapes seen later still find room).
    if (this.files.length < this.sampleCount && (group.kept < 2 || this.files.length < this.sampleCount / 2)) {
      const file = path.join(this.sampleDir, `${this.files.length}.bin`);
      writeSample(file, { inputs, outputs }, this.module);
      this.files.push(file);
      this.fileKeys.push(key);
      group.kept++;
    }
  }

  /** Where in sampleFiles a kept sample of the most frequent input shapes is: what profiling tiles to each batch size. */
  representativeIndex(): number {
    const [key] = [...this.groups.entries()].reduce((a, b) => (b[1].count > a[1].count ? b : a));
    return Math.max(0, this.fileKeys.indexOf(key));
  }

  private checkType(name: string, type: string): void {
    const seen = this.dtypes.get(name);
    if (seen === undefined) this.dtypes.set(name, type);
    else if (seen !== type) {
      throw new NavigatorError(`tensor type changed between calls: ${seen}, then ${type}`, {
        module: this.module,
        subject: name,
        fix: 'pass the same tensor type on every call',
      });
    }
  }

  /** Dynamic axes and min/opt/max shapes derived from every recorded call. */
  signature(): ModuleSignature {
    if (this.calls === 0) {
      throw new NavigatorError('was never called while the pipeline ran over the dataloader', {
        module: this.module,
        fix: 'check that the pipeline calls this module for the dataloader items, or remove its @navModule',
      });
    }
    const groups = [...this.groups.values()];
    const batchSizes: Record<string, number> = {};
    if (this.batching) {
      for (const group of groups) {
        const batch = this.batchOf(group.inputs);
        batchSizes[batch] = (batchSizes[batch] ?? 0) + group.count;
      }
    }
    const mostFrequent = groups.reduce((a, b) => (b.count > a.count ? b : a));
    return {
      inputs: this.specs(groups, 'inputs', mostFrequent),
      outputs: this.specs(groups, 'outputs', mostFrequent),
      batching: this.batching,
      batchSizes,
      calls: this.calls,
    };
  }

  private batchOf(inputs: Record<string, number[]>): number {
    const entries = Object.entries(inputs);
    for (const [name, dims] of entries) {
      if (dims.length === 0) {
        throw new NavigatorError('is a scalar, so axis 0 cannot be a batch axis', {
          module: this.module,
          subject: name,
          fix: 'give it a batch axis, or declare the module with navModule({ name, batching: false })',
        });
      }
      if (dims[0] !== entries[0][1][0]) {
        throw new NavigatorError(
          `has batch size ${dims[0]} (shape ${describeShape(dims)}) but "${entries[0][0]}" has ${entries[0][1][0]}`,
          { module: this.module, subject: name, fix: 'declare the module with navModule({ name, batching: false })' },
        );
      }
    }
    return entries[0]?.[1][0] ?? 1;
  }

  private specs(groups: ShapeGroup[], side: 'inputs' | 'outputs', opt: ShapeGroup): TensorSpec[] {
    return Object.keys(groups[0][side]).map((name) => {
      const shapes = groups.map((group) => group[side][name]);
      if (shapes.some((dims) => !dims || dims.length !== shapes[0].length)) {
        throw new NavigatorError('changed rank (or was missing) between calls', {
          module: this.module,
          subject: name,
          fix: 'pass the same inputs, with the same rank, on every call',
        });
      }
      const rank = shapes[0].length;
      const min = Array.from({ length: rank }, (_, axis) => Math.min(...shapes.map((dims) => dims[axis])));
      const max = Array.from({ length: rank }, (_, axis) => Math.max(...shapes.map((dims) => dims[axis])));
      const dynamicAxes = min
        .map((_, axis) => axis)
        .filter((axis) => (this.batching && axis === 0) || min[axis] !== max[axis]);
      return {
        name,
        dtype: this.dtypes.get(name) ?? 'unknown',
        shape: min.map((size, axis) => (dynamicAxes.includes(axis) ? null : size)),
        dynamicAxes,
        min,
        opt: [...opt[side][name]],
        max,
      };
    });
  }
}

function dimsOf(feeds: Feeds): Record<string, number[]> {
  return Object.fromEntries(Object.entries(feeds).map(([name, tensor]) => [name, [...tensor.dims]]));
}

function shapeKey(feeds: Feeds): string {
  return Object.entries(feeds)
    .map(([name, tensor]) => `${name}:${tensor.dims.join('x')}`)
    .join('|');
}
