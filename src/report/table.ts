import { ModuleStatus, observedLatency, selectedCandidate } from '../core/status';
import { candidateCounts, decisionsOf, timedShapes } from './decisions';
import type { ReportedPipeline } from './merge';

type Modules = Record<string, ModuleStatus & { cached: boolean }>;

/** The table printed after optimize, readable at a glance; optimize-report.json holds the same and more. */
export function formatReport(modules: Modules, pipeline: ReportedPipeline | undefined): string {
  const rows = Object.values(modules).map((status) => {
    const selected = selectedCandidate(status);
    const counts = candidateCounts(status);
    return [
      status.module + (status.cached ? ' (cached)' : ''),
      selected ? `${selected.format} on ${selected.runner} (${selected.variant.id})` : status.selected.key,
      selected?.precision ?? '',
      megabytes(selected?.sizeBytes),
      `${status.selected.latencyMs.toFixed(3)} ms`,
      timedShapes(status),
      `${status.selected.speedup.toFixed(2)}x`,
      status.selected.maxRelL2.toExponential(1),
      `${counts.passed} / ${counts.failed} / ${counts.skipped}`,
    ];
  });
  const header = ['module', 'selected (format on runner)', 'precision', 'size', 'latency', 'timed at (input shape)', 'vs source', 'rel err', 'passed / failed / skipped'];
  const lines = table([header, ...rows]);
  if (pipeline) {
    const range = ([q1, q3]: [number, number]) => `middle half ${q1.toFixed(1)}-${q3.toFixed(1)}`;
    if (pipeline.cachedFrom) lines.push(`pipeline (from the cache: measured by the optimize of ${pipeline.cachedFrom}; this start loaded every module from the cache):`);
    lines.push(`pipeline over the dataloader: ${pipeline.beforeMs.toFixed(1)} ms before (${range(pipeline.beforeQuartilesMs)}), ${pipeline.afterMs.toFixed(1)} ms after (${range(pipeline.afterQuartilesMs)}), ${pipeline.speedup.toFixed(2)}x`);
    for (const note of pipeline.notes) lines.push(`  note: ${note}`);
    lines.push(`end-to-end check: ${pipeline.endToEnd.summary}`);
    for (const fallback of pipeline.endToEnd.fallbacks) lines.push(`  fell back: ${fallback}`);
  }
  return lines.join('\n');
}

/** Every candidate of every module, with why it passed, failed or was skipped: the report file's second part. */
export function formatCandidates(modules: Modules): string {
  const sections = Object.values(modules).map((status) => {
    const rows = status.candidates.map((c) => [
      c.key + (c.key === status.selected.key ? ' *' : ''),
      c.status,
      c.precision,
      megabytes(c.sizeBytes),
      c.conversion.ms === undefined ? '' : `${c.conversion.ms} ms`,
      c.correctness.outputs.length ? Math.max(...c.correctness.outputs.map((o) => o.relL2)).toExponential(1) : '',
      c.performance.length ? `${observedLatency(c.performance, status.signature.batchSizes).toFixed(3)} ms` : '',
      truncate(c.reason ?? '', 110),
    ]);
    const chain = decisionsOf(status).map((d, i) => `  ${i + 1}. ${d.step}: ${d.key} - ${d.reason}`);
    return [`${status.module}:`, ...table([['candidate', 'status', 'precision', 'size', 'convert', 'rel err', 'latency', 'reason'], ...rows]).map((l) => `  ${l}`), '  decision chain:', ...chain].join('\n');
  });
  return sections.join('\n\n');
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 3)}...` : text;
}

function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? '' : `${(bytes / 2 ** 20).toFixed(2)} MB`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column])).join(' | ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)];
}
