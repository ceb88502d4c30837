import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './helpers/models';

// `npx model-navigator` as a user gets it: the packed tarball installed into a fresh folder (`npm test` builds first).
describe('the model-navigator CLI from a packed tarball', () => {
  it('installs as a bin and answers --help and devices', () => {
    const root = path.join(__dirname, '..');
    const packDir = tempDir('nav-pack-');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const tarball = execFileSync(npm, ['pack', '--silent', '--pack-destination', packDir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()!;
    const project = tempDir('nav-fresh-');
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', private: true }));
    // onnxruntime-node's optional CUDA download is not what this checks.
    const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip' };
    execFileSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', path.join(packDir, tarball)], { cwd: project, env, stdio: 'pipe', timeout: 280_000 });
    const bin = path.join(project, 'node_modules', '.bin', 'model-navigator');
    expect(fs.existsSync(bin)).toBe(true);
    const help = spawnSync(bin, ['--help'], { cwd: project, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: model-navigator <command>/);
    const devices = spawnSync(bin, ['devices'], { cwd: project, encoding: 'utf8', env: { ...process.env, NAV_DEVICE_CACHE_DIR: tempDir() } });
    expect(devices.status).toBe(0);
    expect(devices.stdout).toMatch(/^cuda: /m);
    expect(spawnSync(bin, ['status', project], { cwd: project, encoding: 'utf8' }).status).toBe(1);
  }, 300_000);
});
