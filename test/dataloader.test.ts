import { navModule, NavigatorError, OnnxModule, optimize } from '../src';
import { collectItems } from '../src/dataloader';
import { mlpModel, quiet, rows, tempDir, writeModel } from './helpers/models';

// Issue 11, finding 9: an item's batch size is checked against the tensors it feeds.
describe('collectItems', () => {
  it('refuses an item that says batch 8 for tensors of batch 2, naming the item and the argument', async () => {
    await expect(collectItems([[2, rows(2, 16)], [8, rows(2, 16)]])).rejects.toThrow(/item 1 says batch size 8, but argument 1 has shape \[2, 16\].*Fix: .*here 2/s);
  });

  it('looks into plain objects of tensors (feeds)', async () => {
    await expect(collectItems([[8, { x: rows(2, 16) }]])).rejects.toThrow(/argument 1\.x has shape \[2, 16\]/);
  });

  it('needs at least one tensor of the batch size, where there are tensors', async () => {
    await expect(collectItems([[4, rows(1, 16)]])).rejects.toThrow(NavigatorError);
  });

  it('accepts tensors of the batch size beside tensors broadcast over it (axis 0 of 1), and items without tensors', async () => {
    const items = await collectItems([[2, { x: rows(2, 16), scale: rows(1, 1) }], [3, 'a prompt'], [1, rows(1, 4)]]);
    expect(items).toHaveLength(3);
  });
});

describe('optimize', () => {
  it('checks the dataloader before any work', async () => {
    const dir = tempDir();
    const module = navModule(new OnnxModule(writeModel(dir, 'm.onnx', mlpModel())), { name: 'batched' });
    const run = async (x: unknown) => module.run({ x: x as ReturnType<typeof rows> });
    const calls: number[] = [];
    const counted = async (x: unknown) => (calls.push(1), run(x));
    await expect(optimize(counted, [[8, rows(2, 16)]], { workspace: dir, ...quiet })).rejects.toThrow(/item 0 says batch size 8/);
    expect(calls).toHaveLength(0);
  });
});

describe('a pipeline that throws', () => {
  it('is named by its dataloader item, with the error of the user code as the reason', async () => {
    const dir = tempDir();
    const module = navModule(new OnnxModule(writeModel(dir, 'm.onnx', mlpModel())), { name: 'thrower' });
    const run = async (batch: number) => {
      if (batch === 2) throw new Error('boom in user code');
      return module.run({ x: rows(batch, 16) });
    };
    const error = await optimize(run, [[1, 1], [2, 2]], { workspace: dir, ...quiet }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NavigatorError);
    expect((error as Error).message).toMatch(/"dataloader": the pipeline threw on dataloader item 1 \(batch size 2\)\n  Reason: boom in user code\n  Fix: /);
  });
});
