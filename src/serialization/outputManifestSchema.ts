// What an output folder's sauron-output.json must hold: the list of files a result is checked
// against before any of them is read.
import { z } from 'zod';

export const OutputManifestSchema = z.looseObject({
  kind: z.string().min(1, { error: 'expected the name of the command that wrote the folder' }),
  command: z.string(),
  settings: z.unknown(),
  files: z.array(
    z.object({
      name: z
        .string()
        .min(1)
        .refine((n) => !n.split(/[\\/]/).includes('..') && !n.startsWith('/'), { error: 'expected a path inside the folder' }),
      bytes: z.int().nonnegative({ error: 'expected a byte count' }),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected 64 hexadecimal digits' }),
    }),
  ),
  completed: z.string(),
});

/** The lock file beside an output folder: who holds it. */
export const LockOwnerSchema = z.object({
  pid: z.int().positive(),
  host: z.string(),
  command: z.string(),
  started: z.string(),
});
