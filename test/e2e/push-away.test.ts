import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { DeviceState, ReceiveMode } from "../../src/gen/imwire/v1/settings_pb.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { verifyPushSignature } from "../../src/server/push-webhook.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { rawLogin, type RawClient } from "../support/raw-client.js";

/**
 * PSH-1 to PSH-4 end to end: a device registers a push service, goes away
 * (its connection closes), and the reference server POSTs signed alerts to
 * a receiver this test hosts on loopback — not for the user's own messages,
 * not for a muted conversation, once per conversation until it comes back.
 */

const SECRET = "push-away-test-secret-0123456789";
const HOOK_SECRET = "webhook-signing-secret";

interface Received {
  readonly body: string;
  readonly signature: string;
}

async function receiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ body, signature: String(req.headers["x-imwire-signature"] ?? "") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/push`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe("PSH-1 to PSH-4: alerts for devices that are away, through a signed webhook", () => {
  const sockets: Socket[] = [];
  let server: ReferenceServer | undefined;
  let hook: Awaited<ReturnType<typeof receiver>> | undefined;
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    await hook?.close();
  });

  async function request(client: RawClient, body: Parameters<RawClient["send"]>[0], requestId: number) {
    client.send(body, requestId);
    return client.next((f) => f.requestId === requestId);
  }

  it("alerts an away device once per conversation, never of its own messages or a muted conversation, signed, and again after it came back", async () => {
    hook = await receiver();
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore("push"), secret: SECRET, pushWebhook: hook.url, pushWebhookSecret: HOOK_SECRET });
    const url = server.urls.tcp!;
    const track = (s: Socket) => void sockets.push(s);
    const alice = await rawLogin(url, SECRET, "alice", "phone", track);
    const bob = await rawLogin(url, SECRET, "bob", "phone", track);
    const direct = await request(alice, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 10);
    const dm = direct.body.case === "conversationOpened" ? direct.body.value.conversation!.conversationId : "";
    const group = await request(alice, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["bob"], title: "g", clientConversationId: "g" } }, 11);
    const muted = group.body.case === "conversationOpened" ? group.body.value.conversation!.conversationId : "";
    expect((await request(bob, { case: "setReceiveSettings", value: { settings: { conversationId: muted, mode: ReceiveMode.MUTED } } }, 12)).body.case).toBe("receiveSettings");
    expect((await request(bob, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "apns", pushToken: "bob-token" } }, 13)).body.case).toBe("deviceStateSet");
    const tablet = await rawLogin(url, SECRET, "alice", "tablet", track);
    expect((await request(tablet, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "fcm", pushToken: "alice-tablet" } }, 14)).body.case).toBe("deviceStateSet");
    tablet.socket.destroy(); // away too, but never alerted of alice's own messages
    bob.socket.destroy(); // PSH-2: away now (iOS drops the connection of an app in the background)
    await bob.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));

    let id = 100;
    const send = (client: RawClient, conversationId: string, text: string) => request(client, { case: "sendMessage", value: { conversationId, clientMessageId: `m${id}`, content: { kind: { case: "text", value: { text } } } } }, id++);
    const first = await send(alice, dm, "secret lunch plans");
    await send(alice, dm, "second"); // PSH-3: coalesced
    await send(alice, muted, "in a muted group");
    await expect.poll(() => hook!.received.length, { timeout: 5_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hook.received).toHaveLength(1);
    const alert = hook.received[0]!;
    expect(JSON.parse(alert.body)).toEqual({ userId: "bob", deviceId: "phone", pushService: "apns", pushToken: "bob-token", conversationId: dm, seq: String(first.body.case === "sendAck" ? first.body.value.seq : 0) });
    expect(alert.body).not.toMatch(/lunch/); // no content, ever
    expect(verifyPushSignature(alert.signature, alert.body, HOOK_SECRET, Date.now())).toBe(true);
    expect(verifyPushSignature(alert.signature, alert.body, "another secret", Date.now())).toBe(false);
    expect(verifyPushSignature(alert.signature, alert.body.replace("bob", "eve"), HOOK_SECRET, Date.now())).toBe(false);

    // Back, and away again: the next message alerts again; alice's own devices are never alerted of hers.
    const back = await rawLogin(url, SECRET, "bob", "phone", track);
    back.socket.destroy();
    await back.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await send(alice, dm, "third");
    await expect.poll(() => hook!.received.length, { timeout: 5_000 }).toBe(2);
    expect(hook.received.every((r) => JSON.parse(r.body).userId === "bob")).toBe(true);
  }, 30_000);
});
