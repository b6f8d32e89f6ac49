import { createServer, type AddressInfo } from "node:net";
import { describe, it } from "vitest";

/** The Redis the cluster suites run against; unset, they do not run. */
export const REDIS_URL = process.env.IMWIRE_REDIS_URL;

/** As withPostgres: skipped locally without IMWIRE_REDIS_URL, FAILING on CI (CI set), so that a pipeline that lost Redis does not pass by skipping. */
export function withRedis(suiteName: string, define: () => void): void {
  if (REDIS_URL) {
    define();
    return;
  }
  if (process.env.CI) {
    describe(suiteName, () => {
      it("has a Redis to run against", () => {
        throw new Error("IMWIRE_REDIS_URL is not set: CI must run the Redis suites");
      });
    });
    return;
  }
  describe.skip(`${suiteName} (skipped: IMWIRE_REDIS_URL is not set)`, () => {
    it("runs against Redis", () => {});
  });
}

/** A redis:// URL on a loopback port nothing listens on (bound, then released): Redis "down". */
export async function deadRedisUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `redis://127.0.0.1:${port}`;
}
