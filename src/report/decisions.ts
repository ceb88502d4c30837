import type { Decision, ModuleStatus } from '../core/status';

/** The module's decision chain where the status records one; else one link from `selected.reason`. */
export function decisionsOf(status: ModuleStatus): Decision[] {
  const chain = status.decisions as Decision[] | undefined; // a report built by hand may lack it
  if (chain && chain.length > 0) return chain;
  return [{ step: 'module selection', key: status.selected.key, reason: status.selected.reason }];
}

/** Input shapes at which each observed batch size was timed, e.g. 'x 2x16, 4x16' (the first input; the others follow it). */
export function timedShapes(status: ModuleStatus): string {
  const input = status.signature.inputs[0];
  const batches = Object.keys(status.signature.batchSizes).map(Number).sort((a, b) => a - b);
  if (!input) return '';
  const shapeAt = (batch: number) => input.opt.map((size, axis) => (axis === 0 && status.signature.batching ? batch : size)).join('x');
  const shapes = status.signature.batching && batches.length ? batches.map(shapeAt) : [input.opt.join('x')];
  const more = status.signature.inputs.length > 1 ? ` (+${status.signature.inputs.length - 1} inputs)` : '';
  return `${input.name} ${[...new Set(shapes)].join(', ')}${more}`;
}

/** Candidates passed, failed and skipped, counted apart. */
export function candidateCounts(status: ModuleStatus): Record<'passed' | 'failed' | 'skipped', number> {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const c of status.candidates) counts[c.status]++;
  return counts;
}
