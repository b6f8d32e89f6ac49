import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import type { Feature } from "../../src/gen/imwire/v1/connection_pb.js";
import { decodeFrame, encodeFrame } from "../../src/codec/frame-codec.js";
import { newServerMachine, type ServerMachine, type ServerMachineFactory } from "../../src/machines/server/server-machine.js";
import type { ServerOptions } from "../../src/machines/server/options.js";
import type { ConnectionId, ServerOutput, TokenCheck } from "../../src/machines/server/types.js";
import type { ClusterNotice } from "../../src/machines/server/cluster-notices.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Store } from "../../src/store/store.js";

type Body = NonNullable<MessageInitShape<typeof FrameSchema>["body"]>;

/**
 * Talks to a ServerMachine directly, frame by frame, with time in the test's
 * hands. Tokens are "user|device"; "expired|…" tokens have expired.
 */
export class ServerHarness {
  readonly store: Store;
  readonly server: ServerMachine;
  now = 0;
  /** Hello.features of every login (EXT-5): none, as a version 1 client as first published. */
  features: Feature[] = [];
  #nextConnection = 1;
  #nextRequest = 1;
  #nextId = 1;
  /** Frames the server sent, per connection, not yet taken by a test. */
  readonly inbox = new Map<ConnectionId, Frame[]>();
  readonly closed = new Map<ConnectionId, ServerOutput & { kind: "close" }>();
  readonly internalErrors: unknown[] = [];
  /** CLU-2: the cluster notices the machine handed out, not yet taken by a test (with clusterNotices on). */
  readonly notices: ClusterNotice[] = [];
  readonly pushHandoffs: (ServerOutput & { kind: "push-handoff" })[] = [];

  constructor(options: Partial<ServerOptions> = {}, machine: ServerMachineFactory = newServerMachine, store: Store = new MemoryStore()) {
    this.store = store;
    this.server = machine(
      {
        store: this.store,
        verifyToken: (token): TokenCheck => {
          const [user, device] = token.split("|");
          if (user === "expired") return { ok: false, expired: true };
          return user && device ? { ok: true, userId: user, deviceId: device, expiresAtMs: 0 } : { ok: false, expired: false };
        },
        randomId: () => `conv${this.#nextId++}`,
      },
      options,
    );
  }

  open(): ConnectionId {
    const id = this.#nextConnection++;
    this.inbox.set(id, []);
    this.server.connectionOpened(id, this.now);
    this.#collect();
    return id;
  }

  /** Send a frame (through the codec, as a transport would) and return what the server sent back on this connection. */
  send(connection: ConnectionId, body: Body, requestId = this.#nextRequest++): Frame[] {
    const frame = create(FrameSchema, { requestId, body });
    const payload = encodeFrame(frame);
    this.server.frameReceived(connection, decodeFrame(payload), this.now, payload.length);
    this.#collect();
    return this.take(connection);
  }

  /** Send a request and return its answer (the frame with the same request id). */
  request(connection: ConnectionId, body: Body): Frame {
    const requestId = this.#nextRequest++;
    const frames = this.send(connection, body, requestId);
    const answer = frames.find((f) => f.requestId === requestId);
    if (!answer) throw new Error(`no answer to ${body.case} (got ${frames.map((f) => f.body.case).join(", ")})`);
    this.inbox.get(connection)!.push(...frames.filter((f) => f !== answer));
    return answer;
  }

  /** Open a connection and complete hello and authenticate as user|device. */
  login(user: string, device: string, resume?: { epoch: string; cursor: bigint }): ConnectionId {
    const connection = this.open();
    this.request(connection, { case: "hello", value: { versions: [1], deviceId: device, features: this.features } });
    const answer = this.request(connection, { case: "authenticate", value: { token: `${user}|${device}`, resume } });
    if (answer.body.case !== "authenticated") throw new Error(`login failed: ${JSON.stringify(answer.body)}`);
    return connection;
  }

  /** Log in and set the delivery position from a sync, as a fresh device does (SYNC-5). */
  loginAndSync(user: string, device: string): ConnectionId {
    const connection = this.login(user, device);
    const page = this.request(connection, { case: "syncUser", value: {} });
    const cursor = page.body.case === "userPage" ? page.body.value.snapshot!.cursor : 0n;
    this.send(connection, { case: "deliveryAck", value: { cursor } });
    return connection;
  }

  /** Frames waiting for the connection, taken. */
  take(connection: ConnectionId): Frame[] {
    const frames = this.inbox.get(connection) ?? [];
    this.inbox.set(connection, []);
    return frames;
  }

  /** CLU-2: hand this node a notice from another, as its bus would. */
  hear(notice: ClusterNotice): void {
    this.server.remoteNotice(notice, this.now);
    this.#collect();
  }

  advance(ms: number): void {
    this.now += ms;
    this.server.tick(this.now);
    this.#collect();
  }

  #collect(): void {
    for (const output of this.server.takeOutputs()) {
      if (output.kind === "send") this.inbox.get(output.connection)?.push(output.frame);
      else if (output.kind === "close") this.closed.set(output.connection, output);
      else if (output.kind === "internal-error") this.internalErrors.push(output.error);
      else if (output.kind === "cluster-notice") this.notices.push(output.notice);
      else if (output.kind === "push-handoff") this.pushHandoffs.push(output);
    }
  }
}
