/**
 * How stream checks cut bytes into chunks (FRM-3: any split must give the
 * same frames). Random splits are seeded per vector, from the run's seed and
 * the vector's id, so one vector replays the same with --only as in a full run.
 */

/** Number of random splits per stream check. */
export const RANDOM_SPLITS = 3;

/** mulberry32: a small, fast, well-mixed 32-bit generator; plenty for choosing cut points. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A 32-bit FNV-1a hash, to derive a per-vector seed from its id. */
export function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function wholeSplit(bytes: Uint8Array): Uint8Array[] {
  return [bytes];
}

export function byteSplit(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/**
 * One to eight random cuts. Half of them land next to `hotSpots` (where
 * frames and prefixes start), where decoders go wrong; the rest anywhere.
 */
export function randomSplit(bytes: Uint8Array, random: () => number, hotSpots: readonly number[]): Uint8Array[] {
  if (bytes.length < 2) return [bytes];
  const cuts = new Set<number>();
  const count = 1 + Math.floor(random() * 8);
  for (let i = 0; i < count; i++) {
    const near = hotSpots.length > 0 && random() < 0.5;
    const at = near ? hotSpots[Math.floor(random() * hotSpots.length)]! + Math.floor(random() * 6) : 1 + Math.floor(random() * (bytes.length - 1));
    if (at > 0 && at < bytes.length) cuts.add(at);
  }
  const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  const chunks: Uint8Array[] = [];
  for (let i = 1; i < points.length; i++) chunks.push(bytes.subarray(points[i - 1], points[i]));
  return chunks;
}

/** The random generator of split `index` of vector `id` under the run's seed. */
export function splitRandom(seed: number, id: string, index: number): () => number {
  return seededRandom(hashText(`${seed}:${id}:${index}`));
}
