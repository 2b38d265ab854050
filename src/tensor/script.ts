// TorchScript modules (torch.jit.load / save) and torch.save pickles as libtorch reads them:
// the thin handle the models' TorchScript wrapper, exporter and checkpoint converter build
// on, so that only the tensor layer (and the optimizers) talk to the addon.
import { native, type NativeScriptModule, type NativeValue } from '../native.js';
import type { Device } from './deviceState.js';

export type ScriptModule = NativeScriptModule;
export type ScriptValue = NativeValue;

/** A torch.jit.save file, its tensors mapped onto `device` (torch.jit.load's map_location). */
export function loadScriptModule(path: string, device: Device): ScriptModule {
  return new native.ScriptModule(path, false, device);
}

/** An empty module named `name`, to be filled with tensors and TorchScript source. */
export function emptyScriptModule(name: string): ScriptModule {
  return new native.ScriptModule(name, true);
}

/** The object a torch.save pickle holds; tensors come as { tensor: id } (host tensors). */
export function loadPickle(data: Buffer): unknown {
  return native.loadPickle(data);
}
