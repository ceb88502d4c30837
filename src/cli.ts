#!/usr/bin/env node
/**
 * model-navigator: look at, export and clean what optimize left in a workspace.
 *
 *   model-navigator status [workspace]
 *   model-navigator report [workspace] [--html]
 *   model-navigator export triton [workspace] <repository> [--model <module>=<file.onnx>]...
 *   model-navigator clean [workspace] [--keep-last]
 *   model-navigator devices [--refresh]
 *
 * Exit codes: 0 done, 1 failed (the message says why and what to do), 2 wrong usage.
 */
import 'reflect-metadata';
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs, ParseArgsConfig } from 'util';
import { NavigatorError, errorText } from './core/errors';
import { exportTriton, moduleNames } from './export/triton';
import { REPORT_FILES, writeReports } from './report/write';
import { readReport } from './report/merge';
import { formatCandidates, formatReport } from './report/table';
import { describeGpu, discoverDevices, GPU_PROVIDERS } from './runners/device-discovery';
import type { OptimizeStatus } from './core/status';
import { Workspace } from './workspace/workspace';

/** parseArgs's option, with the line --help prints. */
type Options = Record<string, NonNullable<ParseArgsConfig['options']>[string] & { description: string }>;
interface Command {
  usage: string;
  summary: string;
  options: Options;
  /** Most positional arguments accepted. */
  maxPositionals: number;
  run: (positionals: string[], values: Record<string, unknown>) => Promise<void> | void;
}

class UsageError extends Error {}

const out = (text: string) => process.stdout.write(`${text}\n`);
const help: Options = { help: { type: 'boolean', short: 'h', description: 'this help' } };
const workspaceNote = 'workspace: the folder optimize wrote (default: NAV_CACHE_DIR, else ./.nav-cache)';

const COMMANDS: Record<string, Command> = {
  status: {
    usage: 'model-navigator status [workspace]',
    summary: 'the table of what optimize selected for each module, read from the cache',
    options: { candidates: { type: 'boolean', description: 'also every candidate, with why it passed, failed or was skipped' } },
    maxPositionals: 1,
    run: ([dir], values) => {
      const status = loadStatus(dir);
      out(formatReport(status.modules, status.pipeline));
      if (values.candidates) out(`\nCandidates (* = selected):\n\n${formatCandidates(status.modules)}`);
    },
  },
  report: {
    usage: 'model-navigator report [workspace] [--html]',
    summary: 'writes optimize-report.{json,txt,html} from the cache and prints the path of the .txt (of the .html with --html)',
    options: { html: { type: 'boolean', description: 'print the path of optimize-report.html (plots, decision chain, pipeline, environment)' } },
    maxPositionals: 1,
    run: ([dir], values) => {
      // The pipeline section comes from the last report, marked as from the cache.
      const status = loadStatus(dir);
      writeReports({ ...status, pipeline: undefined });
      out(path.join(status.workspace, values.html ? REPORT_FILES.html : REPORT_FILES.txt));
    },
  },
  export: {
    usage: 'model-navigator export triton [workspace] <repository> [--model <module>=<file.onnx>]...',
    summary: 'writes a Triton Inference Server model repository of the selected models (validated)',
    options: { model: { type: 'string', multiple: true, description: 'the source model of a module, where the status does not locate it' } },
    maxPositionals: 3,
    run: (positionals, values) => {
      const [target, ...rest] = positionals;
      if (target !== 'triton') throw new UsageError(target ? `unknown export target "${target}"; the targets: triton` : 'name the export target: triton');
      if (rest.length === 0) throw new UsageError('name the model repository folder to write');
      const [dir, repository] = rest.length === 2 ? rest : [undefined, rest[0]];
      const sources = Object.fromEntries(((values.model as string[] | undefined) ?? []).map(modelOption));
      const exported = exportTriton({ workspace: new Workspace(dir).root, repository, sources });
      for (const model of exported) out(`${model.dir}: ${model.selected}\n  ${model.notes.join('\n  ')}`);
      out(`serve with: tritonserver --model-repository=${path.resolve(repository)}`);
    },
  },
  clean: {
    usage: 'model-navigator clean [workspace] [--keep-last]',
    summary: 'removes the workspace; with --keep-last only what the current selections do not use',
    options: { 'keep-last': { type: 'boolean', description: "keep each module's status.json and its current run folder, and the reports" } },
    maxPositionals: 1,
    run: ([dir], values) => clean(new Workspace(dir).root, Boolean(values['keep-last'])),
  },
  devices: {
    usage: 'model-navigator devices [--refresh]',
    summary: "the GPUs and onnxruntime execution providers found on this machine, with the reason for each one that is not usable",
    options: { refresh: { type: 'boolean', description: 'probe again instead of using the cached answer' } },
    maxPositionals: 0,
    run: async (_, values) => {
      const devices = await discoverDevices({ refresh: Boolean(values.refresh) });
      out(`GPUs: ${devices.gpus.map(describeGpu).join(', ') || 'none found'}`);
      for (const provider of GPU_PROVIDERS) {
        const probe = devices.providers[provider];
        out(`${provider}: ${probe.available ? 'available' : 'unavailable'}${probe.reason ? `\n  ${probe.reason}` : ''}`);
      }
      out(`probed ${devices.probedAt} (${devices.source === 'probe' ? 'just now' : 'cached answer; --refresh probes again'})`);
    },
  },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: model-navigator <command> [options]\n\nCommands:\n${lines.join('\n')}\n\n${workspaceNote}\nRun model-navigator <command> --help for its options. Exit codes: 0 done, 1 failed, 2 wrong usage.`;
}

function commandHelp(c: Command): string {
  const options = Object.entries({ ...c.options, ...help }).map(([name, o]) => `  --${name}${o.type === 'string' ? ' <value>' : ''}  ${o.description}`);
  return `Usage: ${c.usage}\n\n${c.summary}\n\nOptions:\n${options.join('\n')}\n\n${workspaceNote}`;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`model-navigator: unknown command "${name}"; the commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  try {
    const options = Object.fromEntries(Object.entries({ ...command.options, ...help }).map(([key, { description: _, ...option }]) => [key, option]));
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (values.help) {
      out(commandHelp(command));
      return 0;
    }
    if (positionals.length > command.maxPositionals) throw new UsageError(`too many arguments: ${positionals.join(' ')}`);
    await command.run(positionals, values);
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`model-navigator ${name}: ${errorText(error)}\n${usage ? `Usage: ${command.usage}\n` : ''}`);
    return usage ? 2 : 1;
  }
}

/** The workspace's modules and last pipeline measurement, as a report (from optimize-report.json where present). */
function loadStatus(dir: string | undefined): OptimizeStatus {
  const workspace = new Workspace(dir);
  const names = moduleNames(workspace.root);
  if (names.length === 0) {
    throw new NavigatorError('holds no optimized module (no <module>/status.json)', { subject: workspace.root, fix: 'run optimize first, or name the workspace folder it wrote' });
  }
  const previous = readReport(path.join(workspace.root, REPORT_FILES.json));
  const modules: OptimizeStatus['modules'] = {};
  for (const name of names) {
    const status = workspace.readStatus(name);
    if (status) modules[name] = { ...status, cached: true };
  }
  return { modules, pipeline: previous?.pipeline, workspace: workspace.root, durationMs: previous?.durationMs ?? 0, report: '' };
}

function modelOption(value: string): [string, string] {
  const at = value.indexOf('=');
  if (at < 1) throw new UsageError(`--model ${value}: write it as <module>=<file.onnx>`);
  return [value.slice(0, at), path.resolve(value.slice(at + 1))];
}

function clean(root: string, keepLast: boolean): void {
  if (!fs.existsSync(root)) return void out(`${root}: nothing to clean`);
  const modules = moduleNames(root);
  const isWorkspace = modules.length > 0 || Object.values(REPORT_FILES).some((f) => fs.existsSync(path.join(root, f))) || fs.readdirSync(root).every((e) => fs.statSync(path.join(root, e)).isDirectory() && fs.readdirSync(path.join(root, e)).every((r) => r.startsWith('run-')));
  if (!isWorkspace) {
    throw new NavigatorError('does not look like an optimize workspace (no status.json, no optimize-report); left alone', { subject: root, fix: 'name the folder optimize wrote' });
  }
  if (!keepLast) {
    fs.rmSync(root, { recursive: true, force: true });
    return void out(`removed ${root}`);
  }
  const workspace = new Workspace(root);
  let removed = 0;
  for (const entry of fs.readdirSync(root)) {
    const dir = path.join(root, entry);
    // Module folders only: '.cache' (TensorRT timing caches) and the lock are the workspace's own.
    if (entry.startsWith('.') || !fs.statSync(dir).isDirectory()) continue;
    const current = workspace.readStatus(entry)?.runDir;
    for (const run of fs.readdirSync(dir).filter((r) => r.startsWith('run-') && r !== current)) {
      fs.rmSync(path.join(dir, run), { recursive: true, force: true });
      removed++;
    }
  }
  out(`removed ${removed} run folder(s) no selection uses; kept ${modules.length} module(s) and the reports in ${root}`);
}

if (require.main === module) {
  // Output piped into a reader that stops early (| head) is not a failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error) => {
      process.stderr.write(`model-navigator: ${errorText(error)}\n`);
      process.exitCode = 1;
    },
  );
}
