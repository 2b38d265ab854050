/**
 * A tensor's element type, named as in PyTorch (float16 and bfloat16 read and write as float32 on the host).
 */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool' | 'float16' | 'bfloat16';

/**
 * The typed array a tensor of dtype D reads into (int64: BigInt64Array, bool: Uint8Array, half types: Float32Array).
 */
export type TypedArrayFor<D extends DType> = D extends 'float32' | 'float16' | 'bfloat16'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int8'
            ? Int8Array
            : Uint8Array;

/** The typed arrays tensors are made from and read into. */
export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** Every dtype Sauron supports. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'float16', 'bfloat16'];

/** The dtype a typed array maps to (Float32Array: float32, BigInt64Array: int64, ...). */
export function dtypeOfArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** Whether `d` is a floating-point dtype. */
export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}
