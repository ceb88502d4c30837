import { errorText } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import type { GainCheck } from '../core/status';
import { quantile, timeWindow } from './profiler';

/** Rounds of the head-to-head: enough for quartiles that mean something (the first is the 2nd of 5), few enough that a large model's optimize stays within a minute. */
const ROUNDS = 5;

/**
 * Whether a candidate is faster than the source beyond the noise. Profiling times candidates one
 * after the other, so a busy moment can favour any of them; here the two sessions run in short
 * windows that alternate (and swap order each round) on the same inputs, so load from elsewhere hits
 * both alike. The candidate wins only if, on the captured shapes, it was faster in at least three
 * rounds of four (the lower quartile of its per-round speedups is above 1) and, on shapes capture
 * never saw (`unseen`), it was not slower in three rounds of four (the upper quartile is at least 1).
 * Inputs the candidate does not accept go to the source, as they would in the module.
 */
export async function confirmGain(candidate: RunnerSession, source: RunnerSession, captured: Feeds[], unseen: Feeds[], windowMs: number): Promise<GainCheck> {
  const routed: RunnerSession = { ...candidate, run: (feeds) => (candidate.accepts(feeds) ? candidate.run(feeds) : source.run(feeds)) };
  const onCaptured = await speedups(routed, source, captured, windowMs);
  const usable = await takenBy(source, unseen);
  const failure = await firstFailure(routed, usable);
  if (failure) return { ...onCaptured, unseenFailure: failure, faster: false };
  const onUnseen = usable.length > 0 ? await speedups(routed, source, usable, windowMs) : undefined;
  return {
    ...onCaptured,
    ...(onUnseen ? { unseen: onUnseen } : {}),
    faster: onCaptured.speedupQuartiles[0] > 1 && (!onUnseen || onUnseen.speedupQuartiles[1] >= 1),
  };
}

/** The inputs this session runs without an error: a made-up size the source itself refuses (its graph needs other sizes) tests nothing. */
export async function takenBy(session: { run(feeds: Feeds): Promise<unknown> }, inputs: Feeds[]): Promise<Feeds[]> {
  const taken: Feeds[] = [];
  for (const feeds of inputs) {
    try {
      await session.run(feeds);
      taken.push(feeds);
    } catch {
      // not an input of this model
    }
  }
  return taken;
}

/** The error of the first input this session fails on, where the source took them all: a choice that breaks on new sizes is no choice. */
export async function firstFailure(session: { run(feeds: Feeds): Promise<unknown> }, inputs: Feeds[]): Promise<string | undefined> {
  for (const feeds of inputs) {
    try {
      await session.run(feeds);
    } catch (error) {
      return errorText(error);
    }
  }
  return undefined;
}

type Speedups = Omit<GainCheck, 'faster' | 'unseen'>;

async function speedups(candidate: RunnerSession, source: RunnerSession, inputs: Feeds[], windowMs: number): Promise<Speedups> {
  // One warm-up run of each on each input: a new shape costs a first run (allocations, kernel choice) that a pipeline pays once.
  for (const feeds of inputs) for (const session of [candidate, source]) await session.run(feeds);
  const speedups: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let candidateMs = 0, sourceMs = 0;
    for (const feeds of inputs) {
      const order = round % 2 === 0 ? [candidate, source] : [source, candidate];
      const [first, second] = [await medianRun(order[0], feeds, windowMs), await medianRun(order[1], feeds, windowMs)];
      candidateMs += order[0] === candidate ? first : second;
      sourceMs += order[0] === candidate ? second : first;
    }
    speedups.push(sourceMs / candidateMs);
  }
  return { rounds: ROUNDS, speedup: quantile(speedups, 0.5), speedupQuartiles: [quantile(speedups, 0.25), quantile(speedups, 0.75)] };
}

/** Median time of one run over a short window (at least one run: a large model's single run is window enough). */
async function medianRun(session: RunnerSession, feeds: Feeds, windowMs: number): Promise<number> {
  return quantile(await timeWindow(session, feeds, windowMs, 1), 0.5);
}
