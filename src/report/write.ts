import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../workspace/atomic';
import { writeHtmlReport } from './html';
import { ReportedStatus, withCachedPipeline } from './merge';
import { formatCandidates, formatReport } from './table';

export const REPORT_FILES = { json: 'optimize-report.json', txt: 'optimize-report.txt', html: 'optimize-report.html' } as const;

/**
 * Writes optimize-report.{json,txt,html} into the workspace. A start that measured no pipeline keeps
 * the previous report's pipeline section (marked as from the cache). Returns what was written, with
 * `report` set to the table.
 */
export function writeReports(status: Omit<ReportedStatus, 'report'>, root = status.workspace): ReportedStatus {
  const merged = withCachedPipeline({ ...status, report: '' }, path.join(root, REPORT_FILES.json));
  const report = formatReport(merged.modules, merged.pipeline);
  const result: ReportedStatus = { ...merged, report, createdAt: new Date().toISOString() };
  writeJsonAtomic(path.join(root, REPORT_FILES.json), result);
  writeFileAtomic(path.join(root, REPORT_FILES.txt), `${report}\n\nCandidates (* = selected):\n\n${formatCandidates(result.modules)}\n`);
  writeHtmlReport(result, path.join(root, REPORT_FILES.html));
  return result;
}
