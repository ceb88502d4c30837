import { container as rootContainer } from 'tsyringe';
import { bootstrap } from '../src';

// Issue 11, finding 10: bootstrap run before any @pipeline class is imported says so, with the fix.
it('bootstrap that finds no pipelines warns with the fix', async () => {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((line: string) => (lines.push(line), true)) as typeof process.stderr.write;
  try {
    await bootstrap({ container: rootContainer.createChildContainer(), optimize: 'never' });
  } finally {
    process.stderr.write = write;
  }
  expect(lines.join('')).toMatch(/bootstrap found no @pipeline\(\) classes: import the files that declare them before calling bootstrap/);
});
