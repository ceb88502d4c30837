/** Tests run on real onnxruntime-node sessions; the CI machine has 2 cores, so suites run in two workers. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/environment.js',
  roots: ['<rootDir>/test'],
  testTimeout: 120000,
  maxWorkers: 2,
  setupFiles: ['reflect-metadata'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};
