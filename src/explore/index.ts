// The explorer (`sauron explore`): a local web server over run, sensitivity, attack and
// reproduce folders, its typed API and the worker threads that run live attacks. Imports
// src/reproduce (the folder layout) and everything below; the static pages live in
// `explorer/` at the package root.
export { startExplorer, type StartOptions, type RunningExplorer } from './server.js';
export { Explorer, LIMITS as EXPLORER_LIMITS, type ExplorerOptions } from './explorer.js';
export { scanFolders, type Sources, type ModelSource, type ReproduceSource } from './catalog.js';
export type * from './apiTypes.js';
