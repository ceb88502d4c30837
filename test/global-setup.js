// One device-discovery cache for the whole run. test/environment.js points TMPDIR at a fresh folder
// per test file, so discovery's default cache (<os.tmpdir()>/model-navigator-devices) would start
// empty in every file, and each file that optimizes would spawn the three provider probes again.
// Jest's workers inherit this process's environment (and copy it into each test realm), so setting
// NAV_DEVICE_CACHE_DIR here lets the first probe serve the whole run; global-teardown.js removes it.
// A NAV_DEVICE_CACHE_DIR set by the caller is kept as it is.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async function globalSetup() {
  if (process.env.NAV_DEVICE_CACHE_DIR) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-jest-devices-'));
  process.env.NAV_DEVICE_CACHE_DIR = dir;
  globalThis.__navJestDeviceCacheDir = dir;
};
