import * as fs from 'fs';
import type { OptimizeStatus, PipelineStatus } from '../core/status';

/** The pipeline section of a report; `cachedFrom` when it was measured by an earlier optimize (its date). */
export type ReportedPipeline = PipelineStatus & { cachedFrom?: string };

/** A report as written to optimize-report.json: an OptimizeStatus whose pipeline may come from the cache. */
export type ReportedStatus = Omit<OptimizeStatus, 'pipeline'> & { pipeline?: ReportedPipeline; createdAt?: string };

/**
 * A start that loaded every module from the cache measures no pipeline: it keeps the pipeline section
 * of the previous report (`previousFile`, optimize-report.json), marked as coming from the cache.
 * Kept only while every module of the previous report is still in this one, unchanged (same run folder).
 */
export function withCachedPipeline(status: ReportedStatus, previousFile: string): ReportedStatus {
  if (status.pipeline) return status;
  const previous = readReport(previousFile);
  if (!previous?.pipeline) return status;
  const sameRuns = Object.entries(previous.modules).every(([name, module]) => status.modules[name]?.runDir === module.runDir);
  if (!sameRuns) return status;
  const cachedFrom = previous.pipeline.cachedFrom ?? previous.createdAt ?? fileTime(previousFile);
  return { ...status, pipeline: { ...previous.pipeline, cachedFrom } };
}

/** A report file read back, or undefined where it is missing or unreadable. */
export function readReport(file: string): ReportedStatus | undefined {
  try {
    const report = JSON.parse(fs.readFileSync(file, 'utf8')) as ReportedStatus;
    return report && typeof report.modules === 'object' ? report : undefined;
  } catch {
    return undefined;
  }
}

function fileTime(file: string): string {
  return fs.statSync(file).mtime.toISOString();
}
