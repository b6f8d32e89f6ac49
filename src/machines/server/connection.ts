import { DeviceState } from "../../gen/imwire/v1/settings_pb.js";
import type { TokenBucket } from "./rate-limit.js";
import type { ConnectionId } from "./types.js";

/** SPEC.md §5: the server-side states of a connection. */
export type ConnectionState = "await-hello" | "await-auth" | "ready" | "draining";

/** The server's state for one connection. */
export class Connection {
  state: ConnectionState = "await-hello";
  lastReceivedAt: number;
  /** When the last whole frame arrived, and when the server last pinged while bytes of a frame arrived (HB-5). */
  lastFrameAt: number;
  lastPingAt = 0;
  helloDeviceId = "";
  userId = "";
  deviceId = "";
  /** FLOW-2: the effective push window. */
  receiveWindow = 0;
  /** DLV-2: the device's delivery position, or undefined until it is set. */
  position: number | undefined;
  /** The cursor of the last entry pushed: the next push's prev_cursor (CUR-3). */
  lastPushed = 0;
  /** FLOW-2: the effective push window in bytes (0: frames only). */
  receiveWindowBytes = 0;
  /** Cursors pushed and not acknowledged, ascending (FLOW-2). */
  readonly unacked: number[] = [];
  /** The encoded size of each of those pushes, in the same order, and their sum (FLOW-2). */
  readonly unackedSizes: number[] = [];
  unackedBytes = 0;
  /** FLOW-4: this connection's requests; set at authentication. */
  rate: TokenBucket | undefined;
  /** ACK-2: the highest cursor this device has been sent, by push, page, snapshot or resume. */
  highestSent = 0;
  deviceState = DeviceState.FOREGROUND;
  pushService = "";
  pushToken = "";
  drainDeadline = Infinity;
  /** EXT-5, SYNC-8: user pages and pushes summarise read-fan-out conversations. */
  summaries = false;
  /** EXT-5, EPH-1: FEATURE_EPHEMERAL is in force: typing and presence may be sent here. */
  ephemeral = false;
  /** EPH-2: the conversation the device views ("" for none). */
  viewing = "";
  /** FLOW-1: requests read and not yet answered, an answer counting once the runner has taken it. */
  inFlight = 0;

  constructor(
    readonly id: ConnectionId,
    readonly openedAt: number,
  ) {
    this.lastReceivedAt = openedAt;
    this.lastFrameAt = openedAt;
  }

  get deviceKey(): string {
    return deviceKey(this.userId, this.deviceId);
  }
}

export function deviceKey(userId: string, deviceId: string): string {
  return `${userId}\u0000${deviceId}`;
}
