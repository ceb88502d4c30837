/** Tests run on real onnxruntime-node sessions; the CI machine has 2 cores, so suites run in two workers. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/environment.js',
  // One device-discovery cache folder for the run (the per-file TMPDIR of environment.js would empty it per file).
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  roots: ['<rootDir>/test'],
  testTimeout: 120000,
  maxWorkers: 2,
  setupFiles: ['reflect-metadata'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};
