import { formatReport } from '../../src/report/table';
import { smallOptimize } from '../helpers/small-optimize';

describe('the table printed after optimize', () => {
  it('counts passed, failed and skipped candidates apart and names the input shape the latency was timed at', async () => {
    const { status } = await smallOptimize();
    const lines = formatReport(status.modules, status.pipeline).split('\n');
    expect(lines[0]).toMatch(/\| latency +\| timed at \(input shape\) +\|.*\| passed \/ failed \/ skipped$/);
    const encoder = status.modules.encoder;
    const counts = ['passed', 'failed', 'skipped'].map((s) => encoder.candidates.filter((c) => c.status === s).length);
    const row = lines.find((l) => l.startsWith('encoder '))!;
    expect(row).toContain(`| x 1x16, 2x16 `);
    expect(row).toMatch(new RegExp(`\\| ${counts.join(' / ')}$`));
    // The head runs on the doubled batch.
    expect(lines.find((l) => l.startsWith('head '))).toContain('| x 2x16, 4x16 ');
  });
});
