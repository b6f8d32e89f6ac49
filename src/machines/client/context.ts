import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import type { DeviceState } from "../../gen/imwire/v1/settings_pb.js";
import type { Link, Pending } from "./link.js";
import type { ClientDeps, ClientOptions } from "./options.js";
import type { RequestBody } from "./outbox.js";
import type { ClientPolicy } from "./policy.js";
import type { ClientInput, ClientState } from "./states.js";
import type { ClientEvent } from "./types.js";

/** What the client machine's parts share: the coordinator (client-machine.ts) implements it. */
export interface ClientContext {
  readonly options: ClientOptions;
  readonly deps: ClientDeps;
  readonly policy: ClientPolicy;
  /** The time of the input being handled. */
  readonly now: number;
  readonly state: ClientState;
  /** The current connection, in any connected state. */
  readonly link: Link | undefined;
  /** RECV-5: what the application last said; remembered across connections. */
  readonly deviceState: DeviceState;
  /** Send a request on the current connection; its answer comes back as `pending`. */
  request(body: RequestBody, pending: Pending): number;
  send(frame: Frame): void;
  emit(event: ClientEvent): void;
  /** FLOW-1: a sync found no free slot, and is asked again when an answer frees one. */
  deferSync(): void;
  /**
   * CLI-2, CLI-3: when the machine persists (restore() was called), hand out
   * a "persist" output now if the durable state changed since the last one:
   * what follows it (a request's first frame, an acknowledgement) may rely
   * on it.
   */
  checkpoint(): void;
  /** RCPT-1: a conversation's contiguous position moved: an acknowledgement reporting it is due. */
  conversationHeld(): void;
  /** Move through the transition table (states.ts). */
  transition(input: ClientInput): void;
}
