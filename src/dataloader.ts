import { Tensor } from 'onnxruntime-node';
import { NavigatorError } from './core/errors';
import { describeShape } from './tensors';

/**
 * One dataloader item: the batch size first, then the arguments of one pipeline call (`Args`, typed
 * from the method or function it runs). The batch size
 * is the number of samples the call processes. Where the arguments hold onnxruntime Tensors (as
 * arguments, or as values of a plain object such as feeds), it is checked against them: each tensor's
 * axis 0 is the batch size or 1 (broadcast over the batch), and at least one tensor's is the batch size.
 */
export type DataloaderItem<Args extends readonly unknown[] = unknown[]> = readonly [number, ...Args];
export type Dataloader<Args extends readonly unknown[] = unknown[]> = Iterable<DataloaderItem<Args>> | AsyncIterable<DataloaderItem<Args>>;

/** Reads a dataloader into an array (it is run more than once) and checks each item's shape. */
export async function collectItems(dataloader: Dataloader): Promise<DataloaderItem[]> {
  if (dataloader === null || typeof dataloader !== 'object' || !(Symbol.iterator in dataloader || Symbol.asyncIterator in dataloader)) {
    throw new NavigatorError('the dataloader must be an array or an (async) iterable of [batchSize, ...args] items', {
      subject: 'dataloader',
      fix: 'pass e.g. [[1, prompt], [2, otherPrompt]]',
    });
  }
  const items: DataloaderItem[] = [];
  for await (const item of dataloader as AsyncIterable<DataloaderItem>) {
    if (!Array.isArray(item) || !Number.isInteger(item[0]) || (item[0] as number) < 1) {
      throw new NavigatorError(`item ${items.length} is ${JSON.stringify(item)?.slice(0, 80)}, not [batchSize, ...args]`, {
        subject: 'dataloader',
        fix: 'make each item an array whose first element is the positive integer batch size',
      });
    }
    checkBatchSize(item as DataloaderItem, items.length);
    items.push(item as DataloaderItem);
  }
  if (items.length === 0) {
    throw new NavigatorError('the dataloader is empty', { subject: 'dataloader', fix: 'give at least one [batchSize, ...args] item' });
  }
  return items;
}

/** Checks an item's batch size against the tensors among its arguments (see DataloaderItem). */
function checkBatchSize([batch, ...args]: DataloaderItem, index: number): void {
  const tensors = args.flatMap((arg, i) => tensorsOf(arg, `argument ${i + 1}`)).filter(([, t]) => t.dims.length > 0);
  if (tensors.length === 0) return;
  const wrong = tensors.find(([, t]) => t.dims[0] !== batch && t.dims[0] !== 1) ?? (tensors.some(([, t]) => t.dims[0] === batch) ? undefined : tensors[0]);
  if (!wrong) return;
  const [where, tensor] = wrong;
  throw new NavigatorError(`item ${index} says batch size ${batch}, but ${where} has shape ${describeShape(tensor.dims)}`, {
    subject: 'dataloader',
    fix: `make the item's first element the size of axis 0 of its tensors (here ${tensor.dims[0]})`,
  });
}

/** The tensors of one argument: the argument itself, or the tensor values of a plain object. */
function tensorsOf(arg: unknown, where: string): [string, Tensor][] {
  if (arg instanceof Tensor) return [[where, arg]];
  if (arg === null || typeof arg !== 'object' || Object.getPrototypeOf(arg) !== Object.prototype) return [];
  return Object.entries(arg).flatMap(([key, value]): [string, Tensor][] => (value instanceof Tensor ? [[`${where}.${key}`, value]] : []));
}
