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
 * Feeds ready for postMessage, and the buffers to transfer with them. `owned`: nobody else holds
 * these buffers (a batch we concatenated, a worker's outputs), so they move without a copy. The
 * caller's own buffers are copied (only the viewed bytes, never a whole pooled buffer): the caller
 * keeps its tensors intact.
 */
export function toWire(feeds: Feeds, owned: boolean, module: string): { wire: WireFeeds; transfer: ArrayBuffer[] } {
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
    if (whole && owned && !transfer.has(view.buffer as ArrayBuffer)) {
      transfer.add(view.buffer as ArrayBuffer);
      wire[name] = { type: tensor.type, dims: tensor.dims, data };
    } else if (whole) {
      // Structured clone copies it into the message, outside this thread's heap: no buffer here for the GC to account.
      wire[name] = { type: tensor.type, dims: tensor.dims, data };
    } else {
      // Clone would copy the whole underlying buffer: copy only the viewed bytes, and move the copy.
      const copy = view.slice() as Uint8Array;
      transfer.add(copy.buffer as ArrayBuffer);
      wire[name] = { type: tensor.type, dims: tensor.dims, data: copy as unknown as Tensor['data'] };
    }
  }
  return { wire, transfer: [...transfer] };
}

/** onnxruntime Tensors again, over the received arrays (no copy). */
export function fromWire(wire: WireFeeds): Feeds {
  const feeds: Feeds = {};
  for (const [name, t] of Object.entries(wire)) feeds[name] = new Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  return feeds;
}
