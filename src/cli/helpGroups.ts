// The headings `--help` groups options under, listed in the order PyTorch-style tools use: what
// to read, which model, what the command itself does, where results go, where it computes.
// Commands add options in whatever order their shared helpers impose (modelDataOptions brings
// --device early); the help lists the groups in this order all the same.
import { Help, type Command, type Option } from 'commander';

export const DATA = 'Data:';
export const MODEL = 'Model:';
export const OUTPUT = 'Output:';
export const DEVICES = 'Devices and processes:';
/** commander's heading for options without a group: only -h, --help here. */
const UNGROUPED = 'Options:';

const FIRST = [DATA, MODEL];
const LAST = [OUTPUT, DEVICES, UNGROUPED];

/** Data and model first, then a command's own groups as added, then output, devices, help. */
function rank(heading: string): number {
  const first = FIRST.indexOf(heading);
  if (first >= 0) return first;
  const last = LAST.indexOf(heading);
  return last >= 0 ? FIRST.length + 1 + last : FIRST.length;
}

function groupItems<T extends Command | Option>(this: Help, unsorted: T[], visible: T[], getGroup: (item: T) => string): Map<string, T[]> {
  const groups = Help.prototype.groupItems.call(this, unsorted, visible, getGroup as (item: Command | Option) => string) as Map<
    string,
    T[]
  >;
  // Array.prototype.sort is stable: groups of equal rank keep the order they were added in
  return new Map([...groups].sort(([a], [b]) => rank(a) - rank(b)));
}

/**
 * Sets a command and its subcommands to list option groups in that order, and to wrap
 * descriptions down to a 20-column description column (commander's default of 40 leaves long
 * lines unwrapped on narrow terminals, since option names take up to 26 columns).
 */
export function configureSauronHelp(cmd: Command): Command {
  cmd.configureHelp({ groupItems, minWidthToWrap: 20 });
  for (const sub of cmd.commands) configureSauronHelp(sub);
  return cmd;
}

/**
 * Runs `add` with `heading` as the default group of the options it adds, then restores the
 * command's own default: shared helpers group their options without changing the group of the
 * options a command adds after them.
 */
export function inGroup(cmd: Command, heading: string, add: (cmd: Command) => Command): Command {
  const before = cmd.optionsGroup();
  add(cmd.optionsGroup(heading));
  return cmd.optionsGroup(before);
}
