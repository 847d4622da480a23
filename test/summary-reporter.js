// Jest reporter that writes the run's totals to .jest-results.json, so that .ci/run can print
// its own "N passed, N failed" line however `npm test` was invoked.
import { writeFileSync } from 'node:fs';

export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failedSuites = results.testResults.filter((s) => s.testExecError).map((s) => s.testFilePath);
    writeFileSync(
      '.jest-results.json',
      JSON.stringify({
        numPassedTests: results.numPassedTests,
        numFailedTests: results.numFailedTests,
        numRuntimeErrorTestSuites: results.numRuntimeErrorTestSuites,
        failedSuites,
      }),
    );
  }
}
