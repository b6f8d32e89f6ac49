import { describe, expect, it } from "vitest";
import { createLogger } from "../src/server/logger.js";

/** The server's logs: pino NDJSON by default, a compact text form on request, levels that filter. */

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...options, destination: { write: (line: string) => void lines.push(line) } });
  return { log, lines };
}

describe("createLogger", () => {
  it("writes one JSON object a line: time, level by name, msg and the fields, no pid or hostname", () => {
    const { log, lines } = capture();
    log.info("tcp 127.0.0.1:5: in hello #1 12 B", { event: "frame", connection: 1, size: 12 });
    log.warn("careful");
    expect(lines).toHaveLength(2);
    expect(lines.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n"))).toBe(true);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toEqual({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), level: "info", msg: "tcp 127.0.0.1:5: in hello #1 12 B", event: "frame", connection: 1, size: 12 });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: "warn", msg: "careful" });
  });

  it("drops lines below the level; silent drops everything", () => {
    const atWarn = capture({ level: "warn" });
    atWarn.log.debug!("d");
    atWarn.log.info("i");
    atWarn.log.warn("w");
    atWarn.log.error("e");
    expect(atWarn.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["w", "e"]);
    const atDebug = capture({ level: "debug" });
    atDebug.log.debug!("d", { n: 1 });
    expect(JSON.parse(atDebug.lines[0]!)).toMatchObject({ level: "debug", msg: "d", n: 1 });
    const silent = capture({ level: "silent" });
    silent.log.error("e");
    expect(silent.lines).toEqual([]);
  });

  it("text: time LEVEL msg key=value, quoting values with spaces", () => {
    const { log, lines } = capture({ format: "text" });
    log.info("tcp 127.0.0.1:5: connection opened", { event: "open", connection: 3, address: "127.0.0.1:5", note: "two words", resumed: false });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO  tcp 127\.0\.0\.1:5: connection opened event=open connection=3 address=127\.0\.0\.1:5 note="two words" resumed=false\n$/);
  });
});
