import { Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';

/** What the batcher sends batches to: the worker pool. */
export interface BatchTarget {
  run(feeds: Feeds, owned: boolean): Promise<Feeds>;
  /** Whether a call sent now would start at once. */
  idle(): boolean;
  /** Set by the batcher: called when a worker becomes free. */
  onIdle: () => void;
}

export interface BatchLimits {
  module: string;
  maxBatchSize: number;
  maxDelayMs: number;
}

interface Pending {
  feeds: Feeds;
  rows: number;
  resolve(outputs: Feeds): void;
  reject(error: unknown): void;
}

interface Group {
  key: string;
  calls: Pending[];
  rows: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Dynamic batching on axis 0. A call that would start at once (a worker is free) goes alone, so a
 * quiet service adds no delay. While every worker is busy, calls whose inputs agree on every axis
 * but 0 gather into one group; the group goes as one batch when a worker frees up, when it reaches
 * `maxBatchSize` rows, or `maxDelayMs` after its first call, and its outputs are split back in order.
 */
export class Batcher {
  /** Groups in arrival order of their first call: the oldest flushes first. */
  private readonly groups = new Map<string, Group>();
  /** Batches of two or more calls sent, and the calls they held. */
  readonly stats = { batches: 0, batchedCalls: 0 };

  constructor(
    private readonly target: BatchTarget,
    private readonly limits: BatchLimits,
  ) {
    target.onIdle = () => this.flushOldest();
  }

  run(feeds: Feeds): Promise<Feeds> {
    const rows = batchRows(feeds);
    if (rows === undefined || rows >= this.limits.maxBatchSize || (this.groups.size === 0 && this.target.idle())) return this.target.run(feeds, false);
    const key = groupKey(feeds);
    return new Promise<Feeds>((resolve, reject) => {
      let group = this.groups.get(key);
      if (group && group.rows + rows > this.limits.maxBatchSize) {
        this.flush(group);
        group = undefined;
      }
      if (!group) {
        group = { key, calls: [], rows: 0, timer: undefined };
        this.groups.set(key, group);
        const created = group;
        group.timer = setTimeout(() => this.flush(created), this.limits.maxDelayMs);
      }
      group.calls.push({ feeds, rows, resolve, reject });
      group.rows += rows;
      if (group.rows >= this.limits.maxBatchSize || this.target.idle()) this.flush(group);
    });
  }

  /** Sends every held call now (before release). */
  flushAll(): void {
    for (const group of [...this.groups.values()]) this.flush(group);
  }

  private flushOldest(): void {
    const oldest = this.groups.values().next();
    if (!oldest.done) this.flush(oldest.value);
  }

  private flush(group: Group): void {
    if (this.groups.get(group.key) !== group) return;
    this.groups.delete(group.key);
    clearTimeout(group.timer);
    const { calls } = group;
    if (calls.length === 1) {
      this.target.run(calls[0].feeds, false).then(calls[0].resolve, calls[0].reject);
      return;
    }
    this.stats.batches++;
    this.stats.batchedCalls += calls.length;
    let batch: Feeds;
    try {
      batch = concatRows(calls.map((c) => c.feeds));
    } catch (error) {
      for (const call of calls) call.reject(error);
      return;
    }
    this.target.run(batch, true).then(
      (outputs) => {
        try {
          const parts = splitRows(outputs, calls.map((c) => c.rows), this.limits.module);
          calls.forEach((call, i) => call.resolve(parts[i]));
        } catch (error) {
          for (const call of calls) call.reject(error);
        }
      },
      (error) => {
        for (const call of calls) call.reject(error);
      },
    );
  }
}

/** Rows on axis 0 when every input is a numeric CPU tensor with the same axis-0 size; undefined when the call cannot join a batch. */
function batchRows(feeds: Feeds): number | undefined {
  let rows: number | undefined;
  for (const tensor of Object.values(feeds)) {
    if (!ArrayBuffer.isView(tensor.data) || tensor.dims.length === 0) return undefined;
    if (tensor.location !== undefined && tensor.location !== 'cpu') return undefined;
    if (rows !== undefined && tensor.dims[0] !== rows) return undefined;
    rows = tensor.dims[0];
  }
  return rows && rows > 0 ? rows : undefined;
}

/** Calls batch together when names, types and every axis but 0 agree. */
function groupKey(feeds: Feeds): string {
  return Object.keys(feeds)
    .sort()
    .map((name) => `${name}:${feeds[name].type}:${feeds[name].dims.slice(1).join('x')}`)
    .join('|');
}

function concatRows(list: Feeds[]): Feeds {
  const batch: Feeds = {};
  for (const name of Object.keys(list[0])) {
    const first = list[0][name];
    const parts = list.map((feeds) => feeds[name].data as Float32Array);
    const data = new (first.data.constructor as Float32ArrayConstructor)(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      data.set(part, offset);
      offset += part.length;
    }
    const rows = list.reduce((n, feeds) => n + feeds[name].dims[0], 0);
    batch[name] = new Tensor(first.type as 'float32', data, [rows, ...first.dims.slice(1)]);
  }
  return batch;
}

/** Each caller's rows of each output, as views of the batch's buffers (no copy). */
function splitRows(outputs: Feeds, rows: number[], module: string): Feeds[] {
  const total = rows.reduce((a, b) => a + b, 0);
  const parts: Feeds[] = rows.map(() => ({}));
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims[0] !== total || !ArrayBuffer.isView(tensor.data)) {
      throw new NavigatorError(`a batch of ${total} rows gave output dims [${tensor.dims.join(', ')}]: axis 0 is not a batch axis`, {
        module,
        subject: `output ${name}`,
        fix: "turn batching off for this module (serving: { maxBatchSize: 1 } or navModule's batching: false)",
      });
    }
    const data = tensor.data as Float32Array;
    const perRow = data.length / total;
    let row = 0;
    rows.forEach((count, i) => {
      parts[i][name] = new Tensor(tensor.type as 'float32', data.subarray(row * perRow, (row + count) * perRow), [count, ...tensor.dims.slice(1)]);
      row += count;
    });
  }
  return parts;
}
