import { observedLatency } from '../core/status';
import { CandidateStatus, ModuleStatus, selectedCandidate } from '../core/status';
import { writeFileAtomic } from '../workspace/atomic';
import { candidateCounts, decisionsOf, timedShapes } from './decisions';
import type { ReportedPipeline, ReportedStatus } from './merge';
import { barChart, escapeXml as esc, lineChart, scatterChart } from './svg';

/**
 * optimize-report.html: one self-contained file (inline CSS and SVG, no script, nothing fetched at
 * view time) with, per module, latency and throughput against batch size for every candidate, a
 * speed-against-error scatter, the decision chain, and the pipeline and environment.
 */
export function writeHtmlReport(status: ReportedStatus, file: string): void {
  writeFileAtomic(file, renderHtmlReport(status));
}

export function renderHtmlReport(status: ReportedStatus): string {
  const modules = Object.values(status.modules);
  const body = [
    `<h1>Model Navigator optimize report</h1>`,
    `<p class="meta">Workspace <code>${esc(status.workspace)}</code> · ${modules.length} module(s) · optimize took ${(status.durationMs / 1000).toFixed(1)} s</p>`,
    summaryTable(modules),
    pipelineSection(status.pipeline),
    ...modules.map(moduleSection),
    environmentSection(modules),
  ].join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Optimize report</title><style>${CSS}</style></head>
<body>${body}</body></html>
`;
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.sel{background:#eef7ee}
.meta{color:#666}.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{margin:0}
.legend{list-style:none;padding:0;margin:2px 0 0 0;font-size:11px;max-width:560px;columns:2}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.passed{color:#176f2c}.failed{color:#b00020}.skipped{color:#777}ol.chain li{margin-bottom:4px}
details summary{cursor:pointer;color:#0645ad}.reason{max-width:520px;font-size:12px}code{font-size:12px}`;

function summaryTable(modules: ModuleStatus[]): string {
  const rows = modules.map((m) => {
    const selected = selectedCandidate(m);
    const counts = candidateCounts(m);
    return `<tr><td><a href="#module-${esc(m.module)}">${esc(m.module)}</a>${(m as { cached?: boolean }).cached ? ' (cached)' : ''}</td>
<td>${esc(selected ? `${selected.format} on ${selected.runner} (${selected.variant.id})` : m.selected.key)}</td><td>${esc(selected?.precision ?? '')}</td>
<td class="num">${m.selected.latencyMs.toFixed(3)} ms</td><td>${esc(timedShapes(m))}</td><td class="num">${m.selected.speedup.toFixed(2)}x</td>
<td class="num">${m.selected.maxRelL2.toExponential(1)}</td><td><span class="passed">${counts.passed} passed</span>, <span class="failed">${counts.failed} failed</span>, <span class="skipped">${counts.skipped} skipped</span></td></tr>`;
  });
  return `<table id="summary"><tr><th>module</th><th>selected (format on runner)</th><th>precision</th><th>latency</th><th>timed at (input shape)</th><th>vs source</th><th>rel err</th><th>candidates</th></tr>${rows.join('')}</table>`;
}

function pipelineSection(pipeline: ReportedPipeline | undefined): string {
  if (!pipeline) return `<section id="pipeline"><h2>Pipeline</h2><p>No pipeline measurement: this workspace has no report of an optimize that timed the pipeline.</p></section>`;
  const origin = pipeline.cachedFrom ? `<p class="meta">From the cache: measured by the optimize of ${esc(pipeline.cachedFrom)}; the latest start loaded every module from the cache.</p>` : '';
  const chart = barChart(
    [
      { name: 'original models', value: pipeline.beforeMs, range: pipeline.beforeQuartilesMs },
      { name: 'optimized models', value: pipeline.afterMs, range: pipeline.afterQuartilesMs, highlight: true },
    ],
    'Pipeline pass over the dataloader',
    'ms',
  );
  const worst = pipeline.endToEnd.worst.map((w) => `<tr><td><code>${esc(w.path)}</code></td><td class="num">${w.cosine.toFixed(5)}</td><td class="num">${w.relL2.toExponential(2)}</td></tr>`).join('');
  return `<section id="pipeline"><h2>Pipeline</h2>${origin}
<table><tr><th></th><th>median pass</th><th>middle half</th></tr>
<tr><td>before (original models)</td><td class="num">${pipeline.beforeMs.toFixed(1)} ms</td><td>${pipeline.beforeQuartilesMs.map((q) => q.toFixed(1)).join(' - ')} ms</td></tr>
<tr class="sel"><td>after (optimized models)</td><td class="num">${pipeline.afterMs.toFixed(1)} ms</td><td>${pipeline.afterQuartilesMs.map((q) => q.toFixed(1)).join(' - ')} ms</td></tr>
<tr><td>speedup</td><td class="num">${pipeline.speedup.toFixed(2)}x</td><td></td></tr></table>
<div class="charts">${chart}</div>
${list('Notes', pipeline.notes)}
<h3>End-to-end check</h3><p id="end-to-end">${esc(pipeline.endToEnd.summary)}</p>
${worst ? `<table><tr><th>final output</th><th>cosine</th><th>relative error</th></tr>${worst}</table>` : ''}
${list('Fell back', pipeline.endToEnd.fallbacks)}</section>`;
}

function moduleSection(m: ModuleStatus): string {
  const timed = m.candidates.filter((c) => c.performance.length > 0);
  const series = (value: (p: CandidateStatus['performance'][number]) => number) =>
    timed.map((c) => ({ name: c.key, highlight: c.key === m.selected.key, points: c.performance.map((p) => ({ x: p.batchSize, y: value(p) })) }));
  const latency = lineChart(series((p) => p.p50Ms), { title: `${m.module}: p50 latency against batch size`, xLabel: 'batch size', yLabel: 'ms (p50, log)', logY: true });
  const throughput = lineChart(series((p) => p.throughput), { title: `${m.module}: throughput against batch size`, xLabel: 'batch size', yLabel: 'samples / s' });
  const baselineMs = m.selected.sourceLatencyMs;
  const errors = timed.map((c) => maxError(c));
  const floor = Math.min(1e-7, ...errors.filter((e) => e > 0).map((e) => e / 10));
  const scatter = scatterChart(
    timed.map((c, i) => ({ name: c.key, x: Math.max(errors[i], floor), y: baselineMs / observedLatency(c.performance, m.signature.batchSizes), highlight: c.key === m.selected.key })),
    { title: `${m.module}: speed against error (${timedShapes(m)})`, xLabel: 'largest relative error (log; 0 drawn at the left edge)', yLabel: 'speedup vs source', logX: true },
  );
  const chain = decisionsOf(m)
    .map((d) => `<li><b>${esc(d.step)}</b>: <code>${esc(d.key)}</code> - ${esc(d.reason)}</li>`)
    .join('');
  const runners = m.runners.map((r) => `<tr><td>${esc(r.name)}</td><td class="${r.available ? 'passed' : 'skipped'}">${r.available ? 'available' : 'unavailable'}</td><td class="reason">${esc(r.reason ?? '')}</td></tr>`).join('');
  return `<section class="module" id="module-${esc(m.module)}"><h2>${esc(m.module)}</h2>
<p>Selected <code>${esc(m.selected.key)}</code>: ${m.selected.latencyMs.toFixed(3)} ms against ${m.selected.sourceLatencyMs.toFixed(3)} ms for the source (${m.selected.speedup.toFixed(2)}x), timed at ${esc(timedShapes(m))}; ${m.signature.calls} calls captured, batch sizes ${esc(JSON.stringify(m.signature.batchSizes))}.</p>
<h3>Decision chain</h3><ol class="chain">${chain}</ol>
<div class="charts">${latency}${throughput}${scatter}</div>
<h3>Candidates</h3>${candidateTable(m)}
<details><summary>Runners</summary><table><tr><th>runner</th><th></th><th>detail</th></tr>${runners}</table></details></section>`;
}

function candidateTable(m: ModuleStatus): string {
  const rows = m.candidates.map((c) => {
    const latency = c.performance.length ? `${observedLatency(c.performance, m.signature.batchSizes).toFixed(3)} ms` : '';
    const size = c.sizeBytes === undefined ? '' : `${(c.sizeBytes / 2 ** 20).toFixed(2)} MB`;
    const error = c.correctness.outputs.length ? maxError(c).toExponential(1) : '';
    return `<tr${c.key === m.selected.key ? ' class="sel"' : ''}><td><code>${esc(c.key)}</code></td><td class="${c.status}">${c.status}</td><td>${esc(c.precision)}</td><td class="num">${size}</td><td class="num">${error}</td><td class="num">${latency}</td><td class="reason">${esc(c.reason ?? '')}</td></tr>`;
  });
  return `<table><tr><th>candidate</th><th>status</th><th>precision</th><th>size</th><th>rel err</th><th>latency</th><th>reason</th></tr>${rows.join('')}</table>`;
}

function environmentSection(modules: ModuleStatus[]): string {
  const env = modules[0]?.environment;
  if (!env) return '';
  const rows = Object.entries(env).map(([key, value]) => `<tr><th>${esc(key)}</th><td><code>${esc(typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value))}</code></td></tr>`);
  return `<h2 id="environment">Environment</h2><table>${rows.join('')}</table>`;
}

function list(title: string, items: string[]): string {
  return items.length ? `<h3>${esc(title)}</h3><ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>` : '';
}

function maxError(c: CandidateStatus): number {
  return Math.max(0, ...c.correctness.outputs.map((o) => o.relL2));
}
