// Removes the run's device-discovery cache made by global-setup.js (not one the caller set).
const fs = require('fs');

module.exports = async function globalTeardown() {
  const dir = globalThis.__navJestDeviceCacheDir;
  if (!dir) return;
  fs.rmSync(dir, { recursive: true, force: true });
  if (process.env.NAV_DEVICE_CACHE_DIR === dir) delete process.env.NAV_DEVICE_CACHE_DIR;
  delete globalThis.__navJestDeviceCacheDir;
};
