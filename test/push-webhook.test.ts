import { describe, expect, it } from "vitest";
import { PushListener } from "../src/conformance/suite/push-listener.js";
import { PushWebhook } from "../src/server/push-webhook.js";
import type { Logger } from "../src/server/logger.js";

const handoff = (seq: number) => ({ kind: "push-handoff" as const, userId: "u", deviceId: "d", pushService: "apns", pushToken: "t", conversationId: "c", seq });

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) };
}

describe("HOOK-3: the push webhook", () => {
  it("posts each hand-off once, as the JSON the runner's listener reads", async () => {
    const listener = await PushListener.start("http://127.0.0.1:0/push");
    try {
      const webhook = new PushWebhook(listener.url, recordingLog());
      for (const seq of [1, 2, 2 ** 40]) webhook.deliver(handoff(seq));
      const last = await listener.next((h) => h.seq === String(2 ** 40), 5_000);
      expect(last).toEqual({ userId: "u", deviceId: "d", pushService: "apns", pushToken: "t", conversationId: "c", seq: "1099511627776" });
      await listener.next((h) => h.seq === "1", 5_000);
      expect(listener.received.map((h) => h.seq).sort()).toEqual(["1", "1099511627776", "2"]);
      expect(listener.malformed).toEqual([]);
    } finally {
      await listener.close();
    }
  });

  it("logs a failed post and keeps no more than a bounded number in flight", async () => {
    const log = recordingLog();
    // Nothing listens on port 9 of loopback: every post fails.
    const webhook = new PushWebhook("http://127.0.0.1:9/push", log);
    for (let seq = 0; seq < 300; seq++) webhook.deliver(handoff(seq));
    expect(log.lines.filter((l) => /dropping/.test(l)).length).toBe(300 - 256);
    await expect.poll(() => log.lines.filter((l) => /failed/.test(l)).length, { timeout: 10_000 }).toBe(256);
  });

  it("the runner's listener reports posts that are not hand-offs", async () => {
    const listener = await PushListener.start("http://127.0.0.1:0/push");
    try {
      await fetch(listener.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ userId: "u", seq: 3 }) });
      await fetch(listener.url.replace("/push", "/elsewhere"), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(listener.malformed).toHaveLength(2);
      expect(listener.received).toEqual([]);
    } finally {
      await listener.close();
    }
  });
});
