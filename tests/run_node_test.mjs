// run_node_test.mjs - runs one node:test file (argv[2]) with the spec reporter and exits the way
// ctest reads it: 1 when a test failed, 77 (the tests' SKIP_RETURN_CODE) when none failed but one
// was skipped or none ran at all, 0 only when every test ran and passed. `node --test` alone
// exits 0 on skips, so a file whose prerequisites are missing would count as a pass.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const file = process.argv[2];
if (!file) {
  console.error('usage: node run_node_test.mjs FILE.test.mjs');
  process.exit(2);
}

let passed = 0;
let failed = 0;
const skipped = [];
const stream = run({ files: [file] });
stream.on('test:pass', (d) => {
  if (d.details?.type === 'suite') return;
  if (d.skip !== undefined && d.skip !== false) skipped.push(`${d.name}: ${d.skip}`);
  else if (d.todo !== undefined && d.todo !== false) skipped.push(`${d.name}: todo ${d.todo}`);
  else passed++;
});
stream.on('test:fail', (d) => {
  if (d.todo !== undefined && d.todo !== false) skipped.push(`${d.name}: todo ${d.todo}`);
  else failed++;
});
stream.on('end', () => {
  if (failed > 0) {
    process.exitCode = 1;
  } else if (skipped.length > 0 || passed === 0) {
    console.log(`SKIPPED (${passed} passed, ${skipped.length} skipped):`);
    for (const s of skipped) console.log(`  ${s}`);
    process.exitCode = 77;
  } else {
    process.exitCode = 0;
  }
});
stream.compose(new spec()).pipe(process.stdout);
