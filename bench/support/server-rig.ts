import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { ServerMachine } from "../../src/machines/server/server-machine.js";
import type { ServerOutput } from "../../src/machines/server/types.js";
import { MemoryStore } from "../../src/store/memory-store.js";

type Body = NonNullable<MessageInitShape<typeof FrameSchema>["body"]>;

/** A server machine with many logged-in devices, driven without a network, for benchmarks. */
const UNLIMITED = { perSecond: Number.MAX_SAFE_INTEGER, burst: Number.MAX_SAFE_INTEGER };

export class ServerRig {
  readonly server: ServerMachine;
  readonly store = new MemoryStore();
  now = 1;
  #ids = 0;
  #requests = 1;
  /** Highest cursor pushed to each connection, so acknowledgements can keep windows open. */
  readonly lastPushed = new Map<number, bigint>();
  outputs = 0;

  constructor(receiveWindow = 1_000) {
    this.server = new ServerMachine(
      {
        store: this.store,
        verifyToken: (token) => {
          const [userId, deviceId] = token.split("|");
          return { ok: true, userId: userId!, deviceId: deviceId!, expiresAtMs: 0 };
        },
        randomId: () => `c${++this.#ids}`,
      },
      // The rig's clock stands still, so FLOW-4's buckets would never refill: the machine's work is measured, not its limits.
      { receiveWindow, heartbeatIntervalMs: 3_600_000, rateLimits: { connection: UNLIMITED, user: UNLIMITED } },
    );
  }

  input(connection: number, body: Body, requestId = this.#requests++): ServerOutput[] {
    this.server.frameReceived(connection, create(FrameSchema, { requestId, body }), this.now);
    const outputs = this.server.takeOutputs();
    for (const output of outputs) {
      // A benchmark of error answers would measure nothing: fail loudly instead.
      if (output.kind === "send" && output.frame.body.case === "error") throw new Error(`the rig got an error: ${output.frame.body.value.message}`);
      if (output.kind === "send" && output.frame.body.case === "deliver") this.lastPushed.set(output.connection, output.frame.body.value.cursor);
    }
    this.outputs += outputs.length;
    return outputs;
  }

  /** Open, hello, authenticate and set the delivery position: an idle, ready device session. */
  login(connection: number, userId: string, deviceId = "d"): void {
    this.server.connectionOpened(connection, this.now);
    this.input(connection, { case: "hello", value: { versions: [1], deviceId } });
    this.input(connection, { case: "authenticate", value: { token: `${userId}|${deviceId}` } });
    this.input(connection, { case: "deliveryAck", value: { cursor: 0n } });
    this.server.takeOutputs();
  }

  group(owner: number, members: string[], kind = ConversationKind.GROUP): string {
    const [answer] = this.input(owner, { case: "openConversation", value: { kind, userIds: members, title: "bench", clientConversationId: `g${this.#ids}` } });
    const frame = (answer as { frame: Frame }).frame;
    if (frame.body.case !== "conversationOpened") throw new Error(JSON.stringify(frame.body));
    return frame.body.value.conversation!.conversationId;
  }

  /** Every connection acknowledges what it was pushed. */
  ackAll(connections: Iterable<number>): void {
    for (const connection of connections) {
      const cursor = this.lastPushed.get(connection);
      if (cursor !== undefined) this.input(connection, { case: "deliveryAck", value: { cursor } });
    }
  }
}
