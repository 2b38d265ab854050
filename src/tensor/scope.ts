// Deterministic freeing of native tensors: every tensor created inside `scope(fn)` is
// disposed when fn returns, except the tensors fn returns (which move to the enclosing
// scope) and the ones explicitly kept with `keep`.

export interface Disposable {
  dispose(): void;
}

export interface Scoped extends Disposable {
  /** The scope that will dispose this tensor, or null when it is kept. */
  _scope: Set<Scoped> | null;
}

const stack: Set<Scoped>[] = [];

export function track(t: Scoped): void {
  const s = stack[stack.length - 1];
  if (s) {
    s.add(t);
    t._scope = s;
  }
}

/** Removes a tensor from automatic disposal; the caller now owns it. */
export function untrack(t: Scoped): void {
  if (t._scope) {
    t._scope.delete(t);
    t._scope = null;
  }
}

function collect(value: unknown, out: Set<Scoped>, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 3) return;
  if ('_scope' in value && 'dispose' in value) {
    out.add(value as Scoped);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    const values = value instanceof Map ? value.values() : Object.values(value);
    for (const v of values) collect(v, out, depth + 1);
  }
}

/**
 * Runs fn and disposes every tensor it created, except those it returns (directly, or in
 * arrays, Maps and plain objects up to three levels deep) and those passed to `keep`.
 * Synchronous only: an async fn would let tensors escape the scope across awaits.
 *
 * @example
 * ```ts
 * const { logits } = scope(() => model.forward(images)); // the model's intermediates are freed
 * logits.dispose();                                      // what came out is the caller's
 * ```
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Scoped>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of mine) t.dispose();
    throw new Error('scope(fn): fn must be synchronous; create a scope per step inside async code');
  }
  const returned = new Set<Scoped>();
  collect(result, returned, 0);
  const parent = stack[stack.length - 1] ?? null;
  for (const t of mine) {
    if (returned.has(t)) {
      t._scope = parent;
      parent?.add(t);
    } else {
      t.dispose();
    }
  }
  return result;
}

export function scopeDepth(): number {
  return stack.length;
}
