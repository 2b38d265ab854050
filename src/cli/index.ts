// The `sauron` command: one thin shell per command over the library's functions, shared
// option parsing, progress bars. The top layer: it may import everything, nothing imports it.
// (main.ts runs the program; this index only lists the commands.)
export { attackCommand } from './attack.js';
export { benchCommand } from './bench.js';
export { convertCommand } from './convert.js';
export { evalCommand } from './eval.js';
export { exportCommand } from './export.js';
export { pruneCommand } from './prune.js';
export { reproduceCommand } from './reproduce.js';
export { sensitivityCommand } from './sensitivity.js';
export { trainCommand } from './train.js';
