import { Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';

/** A tensor as it crosses threads: structured clone keeps the typed array, onnxruntime's Tensor class does not survive. */
export interface WireTensor {
  type: Tensor.Type;
  dims: readonly number[];
  data: Tensor['data'];
}

export type WireFeeds = Record<string, WireTensor>;

/**
 * Buffers that crossed to a worker as a call's inputs and came back with its result, for the next
 * calls' copies. Without them every call allocated its inputs' bytes anew on the worker's side,
 * and since V8 counts ArrayBuffer memory towards its heap limits, each worker isolate ran a
 * mark-compact every ~150 ms under load (43 in 6 s for the sample service at concurrency 16, pauses
 * of 2-5 ms inside inference). With them, steady traffic allocates no input buffers.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();

  /**
   * `perSize`: spare buffers kept of each byte length; `sizes`: byte lengths kept at once, the most
   * recently returned (inputs of many lengths, text or batches, would otherwise pile up for good).
   */
  constructor(
    private readonly perSize: number,
    private readonly sizes = 8,
  ) {}

  take(byteLength: number): ArrayBuffer {
    return this.free.get(byteLength)?.pop() ?? new ArrayBuffer(byteLength);
  }

  give(buffers: readonly ArrayBuffer[]): void {
    for (const buffer of buffers) {
      const spares = this.free.get(buffer.byteLength) ?? [];
      if (spares.length < this.perSize) spares.push(buffer);
      this.free.delete(buffer.byteLength); // re-inserted last: the Map's order is the order of use
      this.free.set(buffer.byteLength, spares);
      if (this.free.size > this.sizes) this.free.delete(this.free.keys().next().value!);
    }
  }
}

/**
 * Feeds ready for postMessage, and the buffers to transfer with them. `owned`: nobody else holds
 * these buffers (a batch we concatenated, a worker's outputs), so they move without a copy. The
 * caller's own buffers are copied (only the viewed bytes, never a whole pooled buffer) into buffers
 * of `spares` where given, which move: the caller keeps its tensors intact.
 */
export function toWire(feeds: Feeds, owned: boolean, module: string, spares?: BufferPool): { wire: WireFeeds; transfer: ArrayBuffer[] } {
  const wire: WireFeeds = {};
  const transfer = new Set<ArrayBuffer>();
  for (const [name, tensor] of Object.entries(feeds)) {
    if (tensor.location !== undefined && tensor.location !== 'cpu' && tensor.location !== 'cpu-pinned') {
      throw new NavigatorError(`input on ${tensor.location} cannot be sent to a worker thread`, {
        module,
        subject: `input ${name}`,
        fix: 'give served modules CPU tensors (GPU-resident outputs are not kept for served modules)',
      });
    }
    const data = tensor.data;
    if (!ArrayBuffer.isView(data)) {
      wire[name] = { type: tensor.type, dims: tensor.dims, data }; // string tensors: cloned
      continue;
    }
    const view = data as unknown as Uint8Array;
    const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
    const moved = (buffer: ArrayBuffer): void => {
      transfer.add(buffer);
      const Typed = data.constructor as new (buffer: ArrayBuffer) => Tensor['data'];
      wire[name] = { type: tensor.type, dims: tensor.dims, data: new Typed(buffer) };
    };
    if (whole && owned && !transfer.has(view.buffer as ArrayBuffer)) {
      transfer.add(view.buffer as ArrayBuffer);
      wire[name] = { type: tensor.type, dims: tensor.dims, data };
    } else if (spares) {
      const copy = spares.take(view.byteLength);
      new Uint8Array(copy).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      moved(copy);
    } else if (whole) {
      // Structured clone copies it into the message, outside this thread's heap: no buffer here for the GC to account.
      wire[name] = { type: tensor.type, dims: tensor.dims, data };
    } else {
      // Clone would copy the whole underlying buffer: copy only the viewed bytes, and move the copy.
      moved(view.slice().buffer as ArrayBuffer);
    }
  }
  return { wire, transfer: [...transfer] };
}

/** The buffers of wire feeds (whole ones, as a worker receives them): what goes back to the sender's pool after a run. */
export function buffersOf(wire: WireFeeds): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { data } of Object.values(wire)) {
    if (!ArrayBuffer.isView(data)) continue;
    const view = data as unknown as Uint8Array;
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) buffers.add(view.buffer);
  }
  return [...buffers];
}

/** onnxruntime Tensors again, over the received arrays (no copy). */
export function fromWire(wire: WireFeeds): Feeds {
  const feeds: Feeds = {};
  for (const [name, t] of Object.entries(wire)) feeds[name] = new Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  return feeds;
}
