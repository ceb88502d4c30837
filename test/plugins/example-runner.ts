import { InferenceSession } from 'onnxruntime-node';
import type { Feeds, Runner } from '../../src';

/** The example runner's own settings, typed. */
export type ExampleSettings = { intraOpNumThreads: number };

/** A runner from outside src/: onnxruntime's CPU provider with a fixed thread count per variant. */
export const exampleRunner: Runner<ExampleSettings> = {
  name: 'ExampleRunner',
  kinds: [],
  device: 'cpu',
  availability: async () => ({ available: true, detail: 'always' }),
  variants: () => [
    { id: 'one-thread', settings: { intraOpNumThreads: 1 } },
    { id: 'two-threads', settings: { intraOpNumThreads: 2 } },
  ],
  async createSession(artifact, variant) {
    const session = await InferenceSession.create(artifact.path, { executionProviders: ['cpu'], intraOpNumThreads: variant.settings.intraOpNumThreads });
    return { run: (feeds: Feeds) => session.run(feeds) as Promise<Feeds>, accepts: () => true, release: () => session.release() };
  },
};
