/** Rethrow outside the promise chain that caught it: a benchmark that went wrong stops, loudly. */
export const fail = (error: unknown) =>
  process.nextTick(() => {
    throw error;
  });

/** make(0..n-1), `batch` at a time: thousands of connections opened without thousands of dials at once. */
export async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))));
  return out;
}
