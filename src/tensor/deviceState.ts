// Process-wide device settings the tensor layer reads on every creation: the default device
// (as torch.set_default_device) and an optional guard that checks where results land.
// Kept apart from device.ts so tensor.ts and creation.ts can read them without a cycle.

/** A libtorch device string: 'cpu', 'cuda', 'cuda:N' or 'meta'. */
export type Device = string;

// SAURON_DEFAULT_DEVICE sets the initial default (the GPU check runs the test suite on CUDA
// with it); commands choose their device with --device instead.
export const state: { defaultDevice: Device; guard: Device | null; guardPaused: number } = {
  defaultDevice: canonicalDevice(process.env.SAURON_DEFAULT_DEVICE || 'cpu'),
  guard: null,
  guardPaused: 0,
};

/** 'cuda' and 'cuda:0' name the same device; libtorch reports tensors as 'cuda:0'. */
export function canonicalDevice(d: Device): Device {
  return d === 'cuda' ? 'cuda:0' : d;
}

/** Runs fn with the device guard off (for tensors that legitimately live on the host). */
export function hostSide<T>(fn: () => T): T {
  state.guardPaused++;
  try {
    return fn();
  } finally {
    state.guardPaused--;
  }
}

/** Runs fn with another default device (tensors it creates without a device go there). */
export function withDefaultDevice<T>(device: Device, fn: () => T): T {
  const prev = state.defaultDevice;
  state.defaultDevice = canonicalDevice(device);
  try {
    return fn();
  } finally {
    state.defaultDevice = prev;
  }
}
