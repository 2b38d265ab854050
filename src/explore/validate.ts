// Parameter checks for the API: every bad value becomes an HttpError whose message names the
// parameter, so a request can never reach the library with a value it would crash on.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

export function notFound(message: string): HttpError {
  return new HttpError(404, message);
}

export function intParam(name: string, raw: unknown, min: number, max: number, fallback?: number): number {
  if ((raw === undefined || raw === null || raw === '') && fallback !== undefined) return fallback;
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v)) throw badRequest(`${name} must be an integer, got ${JSON.stringify(raw ?? null)}`);
  if (v < min || v > max) throw badRequest(`${name} must be in ${min}..${max}, got ${v}`);
  return v;
}

export function numberParam(name: string, raw: unknown, min: number, max: number, opts: { exclusiveMin?: boolean } = {}): number {
  let v = NaN;
  if (typeof raw === 'number') v = raw;
  else if (typeof raw === 'string') {
    // budgets are often written as fractions of 255, as on the command line
    const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+))?\s*$/.exec(raw);
    if (m) v = m[2] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[2]);
  }
  if (!Number.isFinite(v)) throw badRequest(`${name} must be a number, got ${JSON.stringify(raw ?? null)}`);
  if (v < min || v > max || (opts.exclusiveMin && v === min)) {
    throw badRequest(`${name} must be in ${opts.exclusiveMin ? '(' : '['}${min}, ${max}], got ${v}`);
  }
  return v;
}

export function enumParam<T extends string>(name: string, raw: unknown, values: readonly T[], fallback?: T): T {
  if ((raw === undefined || raw === null || raw === '') && fallback !== undefined) return fallback;
  if (typeof raw !== 'string' || !(values as readonly string[]).includes(raw)) {
    throw badRequest(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw ?? null)}`);
  }
  return raw as T;
}
