/** Jest 30 + ts-jest in ESM mode; run through `node --experimental-vm-modules` (see package.json). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
  // ESM test modules are not freed between files; a fresh worker keeps GC pauses out of timing-sensitive tests.
  workerIdleMemoryLimit: '300MB',
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
