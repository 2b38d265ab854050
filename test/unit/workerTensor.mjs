// Worker entry for workers.test.ts: workers do not inherit the test runner's TypeScript
// loader, so register tsx here, then run the TypeScript body.
import { register } from 'tsx/esm/api';

register();
await import('./workerBody.ts');
