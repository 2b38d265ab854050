// TorchScript modules (torch.jit.load / save) as libtorch reads them: the thin handle the
// models' TorchScript wrapper and exporter build on, so that only the tensor layer (and the
// optimizers) talk to the addon. torch.save checkpoints are read in serialization/, as data.
import { native, type NativeScriptModule, type NativeValue } from '../native.js';
import type { Device } from './deviceState.js';

export type ScriptModule = NativeScriptModule;
export type ScriptValue = NativeValue;

/** A file whose tensors reach past the bytes it holds for them (damaged or crafted). */
export class UnsafeScriptFileError extends Error {}

/**
 * A torch.jit.save file, its tensors mapped onto `device` (torch.jit.load's map_location).
 * Refused with an UnsafeScriptFileError, before anything runs on them, when a tensor's
 * elements lie outside its storage or a storage outside the file's record for it.
 */
export function loadScriptModule(path: string, device: Device): ScriptModule {
  try {
    return new native.ScriptModule(path, false, device);
  } catch (e) {
    if ((e as { unsafeTensor?: boolean }).unsafeTensor)
      throw new UnsafeScriptFileError(`${path}: ${(e as Error).message}; the file is damaged or was altered`);
    throw e;
  }
}

/** An empty module named `name`, to be filled with tensors and TorchScript source. */
export function emptyScriptModule(name: string): ScriptModule {
  return new native.ScriptModule(name, true);
}
