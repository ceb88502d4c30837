/**
 * Sample (c): an HTTP service (node:http) that gets the optimized pipeline injected through
 * bootstrap. By default the modules run in worker threads, so the event loop stays free for /health
 * and request parsing while the models run.
 *
 *   node dist/samples/service.js [--optimize never|if-missing|always] [--serve workers|main|original] [--max-batch N] [--workers N|auto] [--serving JSON] [--port P]
 *
 *   POST /analyze   body: 192x192 RGB bytes (110592 bytes)  ->  {"regions":[{x,y,label,score} x 4]}
 *   GET  /health    ->  {"ok":true}
 *   GET  /stats     ->  event-loop delay p50/p99 and RSS since the last /stats (for bench/serve)
 *
 * --serve: workers (default): worker threads with batching where the profile says it pays;
 * main: the optimized selection on the main thread; original: the original models on the main thread.
 */
import 'reflect-metadata';
import * as http from 'http';
import { monitorEventLoopDelay } from 'perf_hooks';
import { inject, injectable } from 'tsyringe';
import { BOOTSTRAP_SERVING, bootstrap, NavigatorError, releasePipeline, type OnnxModule } from '../src';
import { controlOf } from '../src/module/onnx-module';
import type { ServedSession, ServingConfigInput } from '../src/serving';
import { IMAGE_SIZE, VisionPipeline, type Region } from './vision-pipeline';

@injectable()
export class AnalyzeService {
  constructor(@inject(VisionPipeline) readonly vision: VisionPipeline) {}

  analyze(body: Uint8Array): Promise<Region[]> {
    if (body.length !== IMAGE_SIZE * IMAGE_SIZE * 3) {
      throw new NavigatorError(`the body has ${body.length} bytes`, { subject: 'POST /analyze', fix: `send ${IMAGE_SIZE}x${IMAGE_SIZE} RGB bytes (${IMAGE_SIZE * IMAGE_SIZE * 3})` });
    }
    return this.vision.analyze(body);
  }
}

export interface ServiceOptions {
  optimize: 'never' | 'if-missing' | 'always';
  serve: 'workers' | 'main' | 'original';
  /** Serving settings for --serve workers (e.g. maxBatchSize: 1 to turn batching off). */
  serving: ServingConfigInput;
  port: number;
}

/** Bootstraps the pipeline and starts listening on 127.0.0.1; resolves with the server and a stop function. */
export async function startService(options: ServiceOptions): Promise<{ server: http.Server; port: number; describe: string[]; stop(): Promise<void> }> {
  const container = await bootstrap({ optimize: options.optimize, pipelines: [VisionPipeline], serving: options.serve === 'workers' ? options.serving : undefined });
  const service = container.resolve(AnalyzeService);
  const { vision } = service;
  if (options.serve === 'original') await releasePipeline(vision); // back to the original models, on the main thread
  const serving = container.resolve<Record<string, Record<string, string>>>(BOOTSTRAP_SERVING).VisionPipeline ?? {};
  const modules = [vision.detector, vision.classifier] as OnnxModule<unknown, unknown>[];
  const describe = modules.map((m) => `${m.describe()}${serving[m.name ?? ''] ? `\n    ${serving[m.name ?? '']}` : ''}`);

  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const server = http.createServer((request, response) => {
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method === 'GET' && request.url === '/health') return answer(200, { ok: true });
    if (request.method === 'GET' && request.url === '/stats') {
      const stats = {
        loopDelayP50Ms: loopDelay.percentile(50) / 1e6,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
        rssMb: process.memoryUsage().rss / 2 ** 20,
        // Per served module, since start: batches of 2+ calls formed, the calls they held, timeouts.
        served: Object.fromEntries(modules.map((m) => [m.name, (controlOf(m).boundSession() as Partial<ServedSession> | undefined)?.stats?.()])),
      };
      loopDelay.reset();
      return answer(200, stats);
    }
    if (request.method !== 'POST' || request.url !== '/analyze') return answer(404, { error: 'GET /health, GET /stats or POST /analyze' });
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      Promise.resolve()
        .then(() => service.analyze(joined(chunks)))
        .then(
          (regions) => answer(200, { regions }),
          // A full queue is the service being busy, not a fault: 503 tells clients to retry later.
          (error) => answer(error instanceof NavigatorError && error.code === 'NAV_QUEUE_FULL' ? 503 : error instanceof NavigatorError && error.subject === 'POST /analyze' ? 400 : 500, { error: error instanceof Error ? error.message : String(error) }),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    describe,
    async stop() {
      loopDelay.disable();
      await new Promise((resolve) => server.close(resolve));
      await releasePipeline(vision); // ends the worker threads
    },
  };
}

/** The body in one buffer; read synchronously (normalize copies it before any await), so one scratch buffer serves every request. */
const bodyScratch = new Uint8Array(IMAGE_SIZE * IMAGE_SIZE * 3);
function joined(chunks: Buffer[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const length = chunks.reduce((n, c) => n + c.length, 0);
  if (length !== bodyScratch.length) return Buffer.concat(chunks); // the wrong size: analyze says so
  let offset = 0;
  for (const chunk of chunks) {
    bodyScratch.set(chunk, offset);
    offset += chunk.length;
  }
  return bodyScratch;
}

function parseArgs(argv: string[]): ServiceOptions {
  const value = (flag: string, fallback: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 && argv[at + 1] ? argv[at + 1] : fallback;
  };
  const [maxBatch, workers, extra] = [value('--max-batch', ''), value('--workers', ''), value('--serving', '{}')];
  return {
    optimize: value('--optimize', 'if-missing') as ServiceOptions['optimize'],
    serve: value('--serve', 'workers') as ServiceOptions['serve'],
    serving: { ...(JSON.parse(extra) as ServingConfigInput), ...(maxBatch && { maxBatchSize: Number(maxBatch) }), ...(workers && { workers: workers === 'auto' ? 'auto' : Number(workers) }) },
    port: Number(value('--port', '8080')),
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!['workers', 'main', 'original'].includes(options.serve)) throw new NavigatorError(`unknown --serve "${options.serve}"`, { fix: 'use workers, main or original' });
  const service = await startService(options);
  for (const line of service.describe) console.log(`  ${line}`);
  console.log(`listening on http://127.0.0.1:${service.port} (POST /analyze, GET /health, GET /stats)`);
  const stop = () => void service.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
