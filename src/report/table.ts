import type { ModuleStatus, OptimizeStatus } from '../status';

/** The table printed after optimize, readable at a glance; optimize-report.json holds the same and more. */
export function formatReport(modules: Record<string, ModuleStatus & { cached: boolean }>, pipeline: OptimizeStatus['pipeline']): string {
  const rows = Object.values(modules).map((status) => {
    const selected = status.candidates.find((c) => c.key === status.selected.key);
    const batches = Object.keys(status.signature.batchSizes).join(',') || 'n/a';
    const runOn = selected ? `${selected.format} on ${selected.runner} (${selected.variant.id})` : status.selected.key;
    const passed = status.candidates.filter((c) => c.status === 'passed').length;
    return [
      status.module + (status.cached ? ' (cached)' : ''),
      runOn,
      `${status.selected.latencyMs.toFixed(3)} ms @ bs ${batches}`,
      `${status.selected.speedup.toFixed(2)}x`,
      status.selected.maxRelL2.toExponential(1),
      `${passed}/${status.candidates.length}`,
    ];
  });
  const header = ['module', 'selected (format on runner)', 'latency', 'vs source', 'max rel err', 'passed'];
  const lines = table([header, ...rows]);
  if (pipeline) {
    lines.push(`pipeline over the dataloader: ${pipeline.beforeMs.toFixed(1)} ms before, ${pipeline.afterMs.toFixed(1)} ms after (${pipeline.speedup.toFixed(2)}x)`);
    for (const note of pipeline.notes) lines.push(`  note: ${note}`);
  }
  return lines.join('\n');
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column])).join(' | ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)];
}
