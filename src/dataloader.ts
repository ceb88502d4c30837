import { NavigatorError } from './core/errors';

/** One dataloader item: the batch size first, then the arguments of one pipeline call (`Args`, typed from the method or function it runs). */
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
    items.push(item as DataloaderItem);
  }
  if (items.length === 0) {
    throw new NavigatorError('the dataloader is empty', { subject: 'dataloader', fix: 'give at least one [batchSize, ...args] item' });
  }
  return items;
}
