/**
 * bench/serve: the sample service (samples/service.ts, a detector + crop-classifier ResNet pipeline)
 * loaded over 127.0.0.1 at concurrency 1, 4 and 16, for four ways of running it:
 *   (a) original models on the main thread, (b) the navigator's selection on the main thread,
 *   (c) the selection in worker threads, (d) workers + dynamic batching (defaults from the profile).
 * Per run: throughput, p50/p99 latency, /health p50/p99 under that load (a probe every 20 ms from
 * a process of its own),
 * the service's event-loop delay p99 and RSS, the CPU the service (all threads, and its main thread
 * alone) and the load generator used, in cores (CPU seconds per second: 2 is all of a 2-core
 * machine), and the share of calls that the served modules ran in batches. Each case runs
 * `--rounds` times (default 2): the figures are the median round, with the min-max spread of throughput.
 *
 *   npm run build && node dist/bench/serve.js [--seconds 6] [--rounds 2] [--load-nice 5]
 *
 * The load generator shares the machine with the service; it runs at nice 5 while loading (see
 * --load-nice) so that the clients, which production would keep elsewhere, do not take the cores
 * from the service's event loop.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { syntheticImage } from '../samples/vision-pipeline';

interface Case {
  id: string;
  label: string;
  args: string[];
}

const CASES: Case[] = [
  { id: 'a', label: 'original, main thread', args: ['--serve', 'original'] },
  { id: 'b', label: 'selection, main thread', args: ['--serve', 'main'] },
  { id: 'c', label: 'selection, workers', args: ['--serve', 'workers', '--max-batch', '1'] },
  { id: 'd', label: 'workers + batching', args: ['--serve', 'workers'] },
];
/** 0: no load at all, only the /health probe: the machine's own floor for /health (other tenants, scheduling). */
const CONCURRENCY = [0, 1, 4, 16];
/** Nice value of the load generator while it loads (--load-nice; 0 to compete with the service as equals). */
const LOAD_NICE = arg('--load-nice', 5);

/** Sets this thread's nice value (raising it back to 0 needs root; without it, it stays where it is). */
function setNice(value: number): void {
  try {
    os.setPriority(value);
  } catch {
    // not permitted: measure as is
  }
}

interface RunResult {
  case: string;
  concurrency: number;
  requests: number;
  rejected503: number;
  errors: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  healthP50Ms: number;
  healthP99Ms: number;
  loopDelayP99Ms: number;
  /** The longest stall: p99 counts samples, and a loop blocked for 100 ms takes only one. */
  loopDelayMaxMs: number;
  rssMb: number;
  /** Cores the service used (all its threads), its main thread alone, and the load generator (without the /health probe process). */
  serviceCores: number;
  serviceMainCores: number;
  loadCores: number;
  /** Calls of the served modules that ran in a batch of 2 or more, per request (0-2: two modules). */
  batchedPerRequest: number;
}

/** CPU seconds a process (or one of its threads) has used: utime + stime of /proc/<pid>/stat (Linux; NaN elsewhere). */
function cpuSeconds(pid: number, tid?: number): number {
  try {
    const stat = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
/** USER_HZ: 100 on every Linux build that matters (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function request(agent: http.Agent, port: number, method: string, url: string, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: url, agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the sample service with these flags and resolves with its port once it listens. */
function startService(args: string[]): Promise<{ child: ChildProcess; port: number; log: string[] }> {
  const script = path.join(__dirname, '..', 'samples', 'service.js');
  const child = spawn(process.execPath, [script, '--optimize', 'if-missing', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      log.push(chunk.toString());
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join(''));
      if (match) resolve({ child, port: Number(match[1]), log });
    });
    child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    child.on('exit', (code) => reject(new Error(`the service exited (${code}) before listening:\n${log.join('')}`)));
  });
}

async function load(port: number, concurrency: number, seconds: number, body: Buffer, pid: number): Promise<Omit<RunResult, 'case' | 'concurrency' | 'loopDelayP99Ms' | 'loopDelayMaxMs' | 'rssMb' | 'batchedPerRequest'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let rejected503 = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      const { status } = await request(agent, port, 'POST', '/analyze', body).catch(() => ({ status: 0 }));
      if (status === 200) latencies.push(performance.now() - started);
      else if (status === 503) rejected503++;
      else errors++;
    }
  };
  // /health is probed from a process of its own: the load generator's busy event loop would add its own delays.
  const healthRun = probeHealth(port, seconds);
  // The clients share the 2 cores with the service, as they would not in production: at nice 5 they
  // stop competing with its event loop (the probe process restores its own priority).
  setNice(LOAD_NICE);
  const started = performance.now();
  const cpu = { service: cpuSeconds(pid), main: cpuSeconds(pid, pid), load: process.cpuUsage() };
  const [health] = await Promise.all([healthRun, ...Array.from({ length: concurrency }, client)]);
  const elapsed = (performance.now() - started) / 1000;
  const loadCpu = process.cpuUsage(cpu.load);
  const serviceCores = (cpuSeconds(pid) - cpu.service) / elapsed;
  const serviceMainCores = (cpuSeconds(pid, pid) - cpu.main) / elapsed;
  setNice(0);
  agent.destroy();
  return {
    requests: latencies.length,
    rejected503,
    errors,
    throughput: concurrency === 0 ? NaN : latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    healthP50Ms: percentile(health as number[], 50),
    healthP99Ms: percentile(health as number[], 99),
    serviceCores,
    serviceMainCores,
    loadCores: (loadCpu.user + loadCpu.system) / 1e6 / elapsed,
  };
}

async function runCase(c: Case, seconds: number, body: Buffer): Promise<RunResult[]> {
  const { child, port, log } = await startService(c.args);
  const results: RunResult[] = [];
  try {
    type Stats = { loopDelayP99Ms: number; loopDelayMaxMs: number; rssMb: number; served: Record<string, { batchedCalls: number } | undefined> };
    const stats = async () => JSON.parse((await request(new http.Agent(), port, 'GET', '/stats')).text) as Stats;
    const batched = (s: Stats) => Object.values(s.served).reduce((n, m) => n + (m?.batchedCalls ?? 0), 0);
    for (const concurrency of CONCURRENCY) {
      await load(port, concurrency, 1, body, child.pid!); // warm the sockets and the sessions at this load
      const before = await stats(); // resets the service's event-loop histogram
      const run = await load(port, concurrency, seconds, body, child.pid!);
      const service = await stats();
      const batchedPerRequest = run.requests > 0 ? (batched(service) - batched(before)) / run.requests : NaN;
      results.push({ case: c.id, concurrency, ...run, loopDelayP99Ms: service.loopDelayP99Ms, loopDelayMaxMs: service.loopDelayMaxMs, rssMb: service.rssMb, batchedPerRequest });
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  if (results.some((r) => r.errors > 0)) console.log(log.join(''));
  return results;
}

/** GET /health every 20 ms for `seconds`, from a child process; resolves with the latencies. */
function probeHealth(port: number, seconds: number): Promise<number[]> {
  const child = spawn(process.execPath, [__filename, '--probe', String(port), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  return new Promise((resolve) => child.once('exit', () => resolve(JSON.parse(Buffer.concat(out).toString() || '[]') as number[])));
}

async function probe(port: number, seconds: number): Promise<void> {
  setNice(0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const end = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  while (performance.now() < end) {
    const started = performance.now();
    await request(agent, port, 'GET', '/health');
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  agent.destroy();
  process.stdout.write(JSON.stringify(latencies));
}

const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

async function main(): Promise<void> {
  const seconds = arg('--seconds', 6);
  const rounds = arg('--rounds', 2);
  const body = Buffer.from(syntheticImage(7));
  const started = os.loadavg();
  console.log(`bench/serve on ${os.availableParallelism()} cores (${os.cpus()[0]?.model}), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${seconds} s per run, ${rounds} rounds, load generator at nice ${LOAD_NICE}`);
  await startService(['--serve', 'main']).then(({ child }) => new Promise((resolve) => (child.kill('SIGTERM'), child.once('exit', resolve)))); // optimizes once if needed
  const all: RunResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const c of CASES) {
      const results = await runCase(c, seconds, body);
      all.push(...results);
      for (const r of results) console.log(`  round ${round + 1} (${r.case}) c=${r.concurrency}: ${fmt(r.throughput)} req/s, p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms, /health p99 ${fmt(r.healthP99Ms)} ms, loop p99 ${fmt(r.loopDelayP99Ms)} ms, CPU service ${fmt(r.serviceCores, 2)} (main ${fmt(r.serviceMainCores, 2)}) load ${fmt(r.loadCores, 2)} cores, batched ${fmt(r.batchedPerRequest, 2)}/req, 503s ${r.rejected503}`);
    }
  }
  console.log('\ncase                       | c  | req/s (min-max)       | p50 ms | p99 ms | /health p50 | /health p99 | loop p99/max ms | RSS MB | CPU cores svc (main) / load | batched/req | 503');
  console.log('---------------------------|----|-----------------------|--------|--------|-------------|-------------|-----------------|--------|-----------------------------|-------------|----');
  for (const c of CASES) {
    for (const concurrency of CONCURRENCY) {
      // The median round by throughput (by /health p99 for the idle runs); with 2 rounds, the better one.
      const key = (r: RunResult) => (concurrency === 0 ? -r.healthP99Ms : r.throughput);
      const runs = all.filter((r) => r.case === c.id && r.concurrency === concurrency).sort((x, y) => key(x) - key(y));
      const mid = runs[runs.length >> 1];
      const spread = concurrency === 0 ? 'idle' : `${fmt(runs[0].throughput)}-${fmt(runs[runs.length - 1].throughput)}`;
      console.log(
        `(${c.id}) ${c.label.padEnd(22)} | ${String(concurrency).padEnd(2)} | ${`${fmt(mid.throughput)} (${spread})`.padEnd(21)} | ${fmt(mid.p50Ms).padStart(6)} | ${fmt(mid.p99Ms).padStart(6)} | ${fmt(mid.healthP50Ms, 2).padStart(11)} | ${fmt(mid.healthP99Ms, 2).padStart(11)} | ${`${fmt(mid.loopDelayP99Ms)}/${fmt(mid.loopDelayMaxMs, 0)}`.padStart(15)} | ${fmt(mid.rssMb, 0).padStart(6)} | ${`${fmt(mid.serviceCores, 2)} (${fmt(mid.serviceMainCores, 2)}) / ${fmt(mid.loadCores, 2)}`.padStart(27)} | ${fmt(mid.batchedPerRequest, 2).padStart(11)} | ${mid.rejected503}`,
      );
    }
  }
  const dir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  console.log(`load average at the start ${started.map((l) => l.toFixed(1)).join(' ')}, at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), cores: os.availableParallelism(), loadavg: os.loadavg(), loadavgAtStart: started, seconds, rounds, results: all }, null, 2));
  console.log(`\nraw figures: ${file}`);
}

const probing = process.argv.indexOf('--probe');
(probing >= 0 ? probe(Number(process.argv[probing + 1]), Number(process.argv[probing + 2])) : main()).catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
