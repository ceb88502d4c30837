/**
 * Plots as inline SVG, drawn here: the HTML report needs no library and no network to show them.
 */

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** Drawn thicker, and named first in the legend. */
  highlight?: boolean;
}

export interface ScatterPoint {
  name: string;
  x: number;
  y: number;
  highlight?: boolean;
}

export interface Axes {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Logarithmic y axis (values must be > 0). */
  logY?: boolean;
  logX?: boolean;
}

const WIDTH = 560;
const HEIGHT = 300;
const MARGIN = { left: 64, right: 16, top: 28, bottom: 44 };
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function colorOf(index: number): string {
  return PALETTE[index % PALETTE.length];
}

/** One line per series over x (batch size); a legend below names each. */
export function lineChart(series: Series[], axes: Axes): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return emptyChart(axes.title);
  const scale = scales(all.map((p) => p.x), all.map((p) => p.y), axes);
  const lines = series.map((s, i) => {
    const points = [...s.points].sort((a, b) => a.x - b.x);
    const path = points.map((p) => `${scale.x(p.x).toFixed(1)},${scale.y(p.y).toFixed(1)}`).join(' ');
    const dots = points.map((p) => `<circle cx="${scale.x(p.x).toFixed(1)}" cy="${scale.y(p.y).toFixed(1)}" r="${s.highlight ? 4 : 2.5}" fill="${colorOf(i)}"><title>${escapeXml(`${s.name}: ${p.y.toPrecision(4)} at ${p.x}`)}</title></circle>`).join('');
    return `<polyline fill="none" stroke="${colorOf(i)}" stroke-width="${s.highlight ? 3 : 1.5}" points="${path}"/>${dots}`;
  });
  const legend = series.map((s, i) => ({ name: s.name + (s.highlight ? ' (selected)' : ''), color: colorOf(i) }));
  return frame(axes, scale, lines.join(''), legend);
}

/** Points placed by x and y, each labelled on hover; the highlighted one ringed and named. */
export function scatterChart(points: ScatterPoint[], axes: Axes): string {
  if (points.length === 0) return emptyChart(axes.title);
  const scale = scales(points.map((p) => p.x), points.map((p) => p.y), axes);
  const marks = points.map((p, i) => {
    const cx = scale.x(p.x).toFixed(1);
    const cy = scale.y(p.y).toFixed(1);
    const tip = `<title>${escapeXml(`${p.name}: ${axes.xLabel} ${p.x.toPrecision(3)}, ${axes.yLabel} ${p.y.toPrecision(3)}`)}</title>`;
    const ring = p.highlight ? `<circle cx="${cx}" cy="${cy}" r="9" fill="none" stroke="#000" stroke-width="2"/><text x="${cx}" y="${(Number(cy) - 12).toFixed(1)}" text-anchor="middle" font-size="11" font-weight="bold">selected</text>` : '';
    return `<circle class="${p.highlight ? 'selected' : 'point'}" cx="${cx}" cy="${cy}" r="5" fill="${colorOf(i)}" fill-opacity="0.8">${tip}</circle>${ring}`;
  });
  const legend = points.map((p, i) => ({ name: p.name, color: colorOf(i) }));
  return frame(axes, scale, marks.join(''), legend);
}

interface Scales {
  x: (v: number) => number;
  y: (v: number) => number;
  xTicks: number[];
  yTicks: number[];
}

function scales(xs: number[], ys: number[], axes: Axes): Scales {
  const x = axis(xs, MARGIN.left, WIDTH - MARGIN.right, axes.logX ?? false);
  const y = axis(ys, HEIGHT - MARGIN.bottom, MARGIN.top, axes.logY ?? false);
  return { x: x.map, y: y.map, xTicks: x.ticks, yTicks: y.ticks };
}

/** A linear or log axis over the values, mapped onto [from, to] pixels, with a few round ticks. */
function axis(values: number[], from: number, to: number, log: boolean): { map: (v: number) => number; ticks: number[] } {
  const f = log ? (v: number) => Math.log10(Math.max(v, 1e-12)) : (v: number) => v;
  let lo = Math.min(...values.map(f));
  let hi = Math.max(...values.map(f));
  if (!log) lo = Math.min(lo, 0);
  if (hi - lo < 1e-9) {
    lo -= log ? 0.5 : Math.abs(lo) * 0.1 + 0.5;
    hi += log ? 0.5 : Math.abs(hi) * 0.1 + 0.5;
  }
  const pad = (hi - lo) * 0.06;
  const [a, b] = [log ? lo - pad : lo, hi + pad];
  const map = (v: number) => from + ((f(v) - a) / (b - a)) * (to - from);
  const ticks = log ? logTicks(a, b) : linearTicks(a, b);
  return { map, ticks };
}

function linearTicks(lo: number, hi: number): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12; t += nice) ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) ticks.push(10 ** e);
  return ticks.length ? ticks : [10 ** ((lo + hi) / 2)];
}

function frame(axes: Axes, scale: Scales, body: string, legend: { name: string; color: string }[]): string {
  const bottom = HEIGHT - MARGIN.bottom;
  const grid = [
    ...scale.yTicks.map((t) => `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${scale.y(t).toFixed(1)}" y2="${scale.y(t).toFixed(1)}" stroke="#e5e5e5"/><text x="${MARGIN.left - 6}" y="${(scale.y(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${tickLabel(t)}</text>`),
    ...scale.xTicks.map((t) => `<text x="${scale.x(t).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" font-size="10">${tickLabel(t)}</text>`),
  ].join('');
  const labels =
    `<text x="${WIDTH / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(axes.title)}</text>` +
    `<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${HEIGHT - 8}" text-anchor="middle" font-size="11">${escapeXml(axes.xLabel)}</text>` +
    `<text transform="translate(14 ${(MARGIN.top + bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(axes.yLabel)}</text>`;
  const box = `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}" stroke="#333"/><line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}" stroke="#333"/>`;
  const items = legend.map((l) => `<li><span class="swatch" style="background:${l.color}"></span>${escapeXml(l.name)}</li>`).join('');
  return `<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(axes.title)}">${grid}${box}${body}${labels}</svg><ul class="legend">${items}</ul></figure>`;
}

/** A short tick label: plain for ordinary values, exponent for very large or small ones. */
function tickLabel(t: number): string {
  if (t === 0) return '0';
  const a = Math.abs(t);
  return a >= 1e4 || a < 1e-2 ? t.toExponential(0) : String(Number(t.toPrecision(3)));
}

function emptyChart(title: string): string {
  return `<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} 60" width="${WIDTH}" height="60"><text x="10" y="30" font-size="12">${escapeXml(title)}: nothing measured</text></svg></figure>`;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface Bar {
  name: string;
  value: number;
  /** A range drawn as a whisker over the bar, e.g. the middle half of the passes. */
  range?: [number, number];
  highlight?: boolean;
}

/** Horizontal bars with optional whiskers, e.g. pipeline pass time before and after. */
export function barChart(bars: Bar[], title: string, unit: string): string {
  const width = WIDTH;
  const rowHeight = 34;
  const left = 150;
  const height = 40 + bars.length * rowHeight + 24;
  const max = Math.max(...bars.map((b) => Math.max(b.value, b.range?.[1] ?? 0)), 1e-9) * 1.1;
  const x = (v: number) => left + (v / max) * (width - left - 20);
  const rows = bars.map((b, i) => {
    const y = 36 + i * rowHeight;
    const whisker = b.range
      ? `<line x1="${x(b.range[0]).toFixed(1)}" x2="${x(b.range[1]).toFixed(1)}" y1="${y + 11}" y2="${y + 11}" stroke="#000" stroke-width="1.5"/><line x1="${x(b.range[0]).toFixed(1)}" x2="${x(b.range[0]).toFixed(1)}" y1="${y + 5}" y2="${y + 17}" stroke="#000"/><line x1="${x(b.range[1]).toFixed(1)}" x2="${x(b.range[1]).toFixed(1)}" y1="${y + 5}" y2="${y + 17}" stroke="#000"/>`
      : '';
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="12">${escapeXml(b.name)}</text><rect x="${left}" y="${y}" width="${(x(b.value) - left).toFixed(1)}" height="22" fill="${b.highlight ? colorOf(2) : colorOf(7)}"><title>${escapeXml(`${b.name}: ${b.value.toFixed(2)} ${unit}`)}</title></rect>${whisker}<text x="${(x(b.value) + 4).toFixed(1)}" y="${y - 2}" font-size="11">${b.value.toFixed(1)} ${escapeXml(unit)}</text>`;
  });
  return `<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(title)}"><text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>${rows.join('')}<text x="${left}" y="${height - 6}" font-size="10" fill="#666">bars: median; whiskers: middle half of the passes</text></svg></figure>`;
}
