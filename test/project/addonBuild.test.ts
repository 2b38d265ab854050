// What the tests that skip without Gloo or BLIS (distributed, dataParallel, launch,
// trainParallel, analysisParallel, blas) rely on: an addon built against Debian's libtorch
// carries both, so on that build, and always in CI, those tests cannot skip quietly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { blasLibrary } from '../../src/tensor/runtime.js';
import { hasGloo } from '../../src/tensor/distributed.js';
import { native } from '../../src/native.js';

/** The libtorch_cpu this process loaded (the addon's), from the memory map. */
function loadedLibtorch(): string | null {
  void native.libtorchVersion; // the addon, and with it libtorch, is loaded
  const m = /\s(\/\S*\/libtorch_cpu\.so[^\s/]*)$/m.exec(readFileSync('/proc/self/maps', 'utf8'));
  return m ? m[1]! : null;
}

// Debian's libtorch lives in /usr/lib/<multiarch>/ (headers in /usr/include/torch); a LIBTORCH
// download or PyTorch's own copy lives elsewhere.
const libtorch = loadedLibtorch();
const debian = !!libtorch && /^\/usr\/lib\/[^/]+-linux-gnu\/libtorch_cpu\.so/.test(libtorch);

test("CI builds against Debian's libtorch", { skip: !process.env.CI && 'not CI (CI is unset)' }, () => {
  assert.ok(debian, `CI loaded ${libtorch ?? 'no libtorch_cpu'}, not Debian's`);
});

test("built against Debian's libtorch: Gloo (the process-group tests) and BLIS (the BLAS tests) are present", {
  skip: !debian && `another libtorch (${libtorch ?? 'none found in /proc/self/maps'})`,
}, () => {
  assert.equal(hasGloo(), true, 'the addon was built without Gloo: install libgloo-dev and rebuild (npm ci)');
  const blas = blasLibrary();
  assert.ok(
    blas && /\/blis-openmp\/libblas\.so\.3$/.test(blas),
    `matrix products run in ${blas}, not BLIS: install libblis4-openmp and rebuild`,
  );
});
