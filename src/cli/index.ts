// The `sauron` command: one thin shell per command over the library's functions, shared
// option parsing, progress bars. The top layer: it may import everything, nothing imports it.
// (main.ts runs the program; this index only lists the commands.)
export { attackCommand } from './attackCommand.js';
export { benchCommand } from './benchCommand.js';
export { convertCommand } from './convertCommand.js';
export { evalCommand } from './evalCommand.js';
export { exportCommand } from './exportCommand.js';
export { pruneCommand } from './pruneCommand.js';
export { reproduceCommand } from './reproduceCommand.js';
export { sensitivityCommand } from './sensitivityCommand.js';
export { trainCommand } from './trainCommand.js';
