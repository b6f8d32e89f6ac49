import { ConversationKind } from "../gen/imwire/v1/conversation_pb.js";
import { DeviceState, ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import type { ClientPolicy } from "../machines/client/policy.js";
import type { Transition } from "../machines/client/states.js";
import type { ServerMachineFactory } from "../machines/server/server-machine.js";
import type { Store } from "../store/store.js";
import type { DurabilityModel } from "./sim-durability.js";
import { checkDeliveredPositions, checkIdempotentSends, checkIntervals, checkRedactions, checkLiveness, checkNoLoss, checkOrderAndDuplicates, checkPushLatency, checkStateEquivalence } from "./checks.js";
import { Simulation, type LinkFaults, type SimDevice } from "./simulation.js";

/**
 * What happens in a scenario. Users, devices and conversations are indices,
 * resolved when the action runs (modulo what exists then), so any list of
 * actions is a valid schedule and a shrunk one replays exactly.
 */
export type Action =
  | { readonly kind: "createGroup"; readonly user: number; readonly device: number; readonly members: readonly number[] }
  | { readonly kind: "createDirect"; readonly user: number; readonly device: number; readonly peer: number }
  | { readonly kind: "createChannel"; readonly user: number; readonly device: number }
  | { readonly kind: "subscribe"; readonly user: number; readonly device: number; readonly channel: number }
  | { readonly kind: "addMembers"; readonly user: number; readonly device: number; readonly conversation: number; readonly members: readonly number[] }
  | { readonly kind: "leave"; readonly user: number; readonly device: number; readonly conversation: number }
  | { readonly kind: "send"; readonly user: number; readonly device: number; readonly conversation: number; readonly count: number }
  | { readonly kind: "setMode"; readonly user: number; readonly device: number; readonly conversation: number | null; readonly mode: ReceiveMode }
  | { readonly kind: "setBackground"; readonly user: number; readonly device: number; readonly background: boolean }
  | { readonly kind: "markRead"; readonly user: number; readonly device: number; readonly conversation: number }
  | { readonly kind: "drop"; readonly user: number; readonly device: number }
  | { readonly kind: "partition"; readonly user: number; readonly device: number; readonly ms: number }
  | { readonly kind: "blackhole"; readonly user: number; readonly device: number }
  | { readonly kind: "restartServer"; readonly loseState: boolean }
  /** CLI-5: the device's process is killed wherever it is and restarts from what it persisted. */
  | { readonly kind: "restartClient"; readonly user: number; readonly device: number }
  /** HIS-2: a group's history visibility (only its owner succeeds). */
  | { readonly kind: "setHistory"; readonly user: number; readonly device: number; readonly conversation: number; readonly visibility: number; readonly events: number }
  /** HID-1: the device hides the `message`-th event it holds of a conversation. */
  | { readonly kind: "hide"; readonly user: number; readonly device: number; readonly conversation: number; readonly message: number }
  /** THR-1: a reply into the thread of the `message`-th message of a conversation. */
  | { readonly kind: "threadReply"; readonly user: number; readonly device: number; readonly conversation: number; readonly message: number }
  /** ACT-1: edit (own messages only), redact or react to the `message`-th message of a conversation; refusals are part of the game. */
  | { readonly kind: "edit" | "redact"; readonly user: number; readonly device: number; readonly conversation: number; readonly message: number }
  | { readonly kind: "react"; readonly user: number; readonly device: number; readonly conversation: number; readonly message: number; readonly remove: boolean };

export interface Step {
  /** Virtual milliseconds after the previous step. */
  readonly after: number;
  readonly action: Action;
}

export interface Scenario {
  readonly seed: number;
  readonly users: number;
  readonly devicesPerUser: number;
  /** The network until it heals, after the last step. */
  readonly faults: LinkFaults;
  readonly steps: readonly Step[];
  /**
   * ServerOptions.readFanOutMembers (CUR-7, CUR-8); the server's default
   * (100) when absent. A low one puts groups under read fan-out from
   * creation, or moves them there mid-run when members are added.
   */
  readonly readFanOutMembers?: number;
  /** ServerOptions.maxInlineMembers (LIM-9); larger groups are paged (CONV-10). */
  readonly maxInlineMembers?: number;
  /**
   * Devices, by place in creation order, that are version 1.0 clients
   * offering no features (`features: []`): their user_page carries every
   * event (SYNC-3), where the others get summaries (SYNC-8).
   */
  readonly featurelessDevices?: readonly number[];
}

export interface ScenarioOptions {
  /** Makes each device's client policy (SimulationConfig.clientPolicy). */
  readonly clientPolicy?: () => Partial<ClientPolicy>;
  /** Told of every client state change (SimulationConfig.onClientTransition). */
  readonly onClientTransition?: (deviceId: string, transition: Transition) => void;
  readonly serverMachine?: ServerMachineFactory;
  /** Property 5's bound: once healed, everything settles within this much virtual time. */
  readonly settleWithinMs?: number;
  /** Run property 7's fresh-device comparison (costs a second settling). */
  readonly checkEquivalence?: boolean;
  /**
   * The server loses its state during the scenario (CUR-4): only the runtime
   * monitors and liveness apply, since what the old epoch stored is gone.
   */
  readonly serverLosesState?: boolean;
  /** Receives the simulation's trace lines. */
  readonly onTrace?: (line: string) => void;
  /** Makes the server's store (SimulationConfig.store); a MemoryStore when absent. */
  readonly store?: (epoch: string) => Store;
  /** Group commit with a commit latency (SimulationConfig.durability). */
  readonly durability?: DurabilityModel;
}

export interface ScenarioReport {
  readonly violations: string[];
  readonly frames: number;
  readonly events: number;
  readonly sends: number;
  readonly virtualMs: number;
  /** Groups that moved to read fan-out mid-run (CUR-8: from a seq after CREATED). */
  readonly crossings: number;
  /** Conversations under read fan-out at the end, from creation or moved. */
  readonly readFanOut: number;
  readonly sim: Simulation;
}

export const DEFAULT_SETTLE_MS = 60_000;

/** Run a scenario to the end and check every promise; the report lists what broke. */
export function runScenario(scenario: Scenario, options: ScenarioOptions = {}): ScenarioReport {
  const sim = new Simulation({
    seed: scenario.seed,
    users: scenario.users,
    devicesPerUser: scenario.devicesPerUser,
    faults: scenario.faults,
    clientPolicy: options.clientPolicy,
    onClientTransition: options.onClientTransition,
    serverMachine: options.serverMachine,
    onTrace: options.onTrace,
    store: options.store,
    durability: options.durability,
    server: {
      ...(scenario.readFanOutMembers === undefined ? {} : { readFanOutMembers: scenario.readFanOutMembers }),
      ...(scenario.maxInlineMembers === undefined ? {} : { maxInlineMembers: scenario.maxInlineMembers }),
    },
    deviceOptions: (_user, ordinal) => (scenario.featurelessDevices?.includes(ordinal) ? { features: [] } : {}),
  });
  const devicesAtStart = [...sim.devices];
  sim.run(300);
  // Property 12's soundness is checked along the way too: by the end every device holds everything, which would hide a position claimed too early.
  const along: string[] = [];
  for (const step of scenario.steps) {
    sim.run(sim.now + step.after);
    if (!options.serverLosesState) along.push(...checkDeliveredPositions(sim, false));
    perform(sim, devicesAtStart, step.action);
  }
  sim.run(sim.now + 1_000);
  sim.heal();
  for (const device of sim.devices) device.client.setDeviceState(DeviceState.FOREGROUND, sim.now);
  const settleBy = sim.now + (options.settleWithinMs ?? DEFAULT_SETTLE_MS);
  const settled = sim.runUntilSettled(settleBy);
  const storeChecks = () => (options.serverLosesState ? [] : [...checkOrderAndDuplicates(sim), ...checkNoLoss(sim), ...checkIdempotentSends(sim), ...checkIntervals(sim), ...checkRedactions(sim)]);
  // Checked before property 10's probe too: its new events would show a device what it missed, and it would catch up.
  const beforeProbe = [...storeChecks(), ...checkLiveness(sim)];
  // Property 10 probes a quiet world only: until then, property 5 says what is wrong.
  const latency = settled ? checkPushLatency(sim) : [];
  const quiet = sim.runUntilSettled(sim.now + (options.settleWithinMs ?? DEFAULT_SETTLE_MS));
  const delivered = options.serverLosesState ? [] : [...along, ...checkDeliveredPositions(sim, quiet)];
  const violations = [...new Set([...sim.violations, ...beforeProbe, ...latency, ...storeChecks(), ...checkLiveness(sim), ...delivered])];
  if (options.checkEquivalence && violations.length === 0) violations.push(...checkStateEquivalence(sim, sim.now + (options.settleWithinMs ?? DEFAULT_SETTLE_MS)));
  const events = sim.devices.reduce((sum, d) => sum + [...d.delivered.values()].reduce((s, list) => s + list.length, 0), 0);
  const sends = sim.devices.reduce((sum, d) => sum + d.sends.length, 0);
  const fanOut = sim.conversationIds().map((id) => sim.store.conversation(id)!.readFanOutFromSeq);
  return { violations, frames: sim.framesCarried, events, sends, virtualMs: sim.now, crossings: fanOut.filter((from) => from > 1).length, readFanOut: fanOut.filter((from) => from > 0).length, sim };
}

function perform(sim: Simulation, devices: readonly SimDevice[], action: Action): void {
  if (action.kind === "restartServer") {
    sim.restartServer(action.loseState);
    return;
  }
  const device = devices[(action.user * 7 + action.device) % devices.length]!;
  performOn(sim, devices, device, action);
  // As ClientDriver.act does: what the command asked for is carried out at once (CLI-1: a send is persisted before a restart can come).
  sim.drive(device);
}

function performOn(sim: Simulation, devices: readonly SimDevice[], device: SimDevice, action: Exclude<Action, { kind: "restartServer" }>): void {
  const client = device.client;
  const now = sim.now;
  const users = new Set(devices.map((d) => d.userId)).size;
  const userIds = (indices: readonly number[]) => indices.map((i) => sim.userId(i % users)).filter((u) => u !== device.userId);
  const mine = () => sim.conversationIds().filter((id) => sim.store.membership(id, device.userId)?.lastVisibleSeq === 0);
  const pick = (ids: string[], index: number) => (ids.length === 0 ? undefined : ids[index % ids.length]);
  switch (action.kind) {
    case "createGroup":
      client.open({ kind: ConversationKind.GROUP, userIds: userIds(action.members), title: "group" }, now);
      return;
    case "createDirect": {
      const [peer] = userIds([action.peer]);
      if (peer !== undefined) client.open({ kind: ConversationKind.DIRECT, userIds: [peer] }, now);
      return;
    }
    case "createChannel":
      client.open({ kind: ConversationKind.CHANNEL, title: "channel" }, now);
      return;
    case "subscribe": {
      const channels = sim.conversationIds().filter((id) => sim.store.conversation(id)?.kind === ConversationKind.CHANNEL);
      const id = pick(channels, action.channel);
      if (id) client.open({ conversationId: id }, now);
      return;
    }
    case "addMembers": {
      const groups = mine().filter((id) => sim.store.conversation(id)?.kind === ConversationKind.GROUP);
      const id = pick(groups, action.conversation);
      if (id) client.open({ conversationId: id, userIds: userIds(action.members) }, now);
      return;
    }
    case "leave": {
      const id = pick(mine(), action.conversation);
      if (id) client.leave(id, now);
      return;
    }
    case "send": {
      const id = pick(mine(), action.conversation);
      if (!id) return;
      for (let i = 0; i < action.count; i++) device.sends.push(client.send(id, { kind: { case: "text", value: { text: `${device.deviceId} says ${device.sends.length}` } } }, now));
      return;
    }
    case "setHistory": {
      const groups = mine().filter((id) => sim.store.conversation(id)?.kind === ConversationKind.GROUP);
      const id = pick(groups, action.conversation);
      if (id) client.setHistoryVisibility(id, action.visibility, now, action.events); // answered with a "done" event, not a send's
      return;
    }
    case "hide": {
      const id = pick(mine(), action.conversation);
      const held = id ? (device.delivered.get(id) ?? []) : [];
      if (!id || held.length === 0) return;
      client.hideMessage(id, held[action.message % held.length]!.seq, now); // answered with a "done" event
      return;
    }
    case "threadReply": {
      const id = pick(mine(), action.conversation);
      if (!id) return;
      const roots = sim.store.events(id, 0, Infinity, Infinity).filter((e) => e.body.case === "message" && e.body.value.threadRootSeq === 0n);
      const root = roots.length === 0 ? undefined : roots[action.message % roots.length]!;
      if (!root) return;
      device.sends.push(client.send(id, { kind: { case: "text", value: { text: `${device.deviceId} replies ${device.sends.length}` } } }, now, { threadRootSeq: root.seq }));
      return;
    }
    case "edit":
    case "redact":
    case "react": {
      const id = pick(mine(), action.conversation);
      if (!id) return;
      const messages = sim.store.events(id, 0, Infinity, Infinity).filter((e) => e.body.case === "message" && (action.kind !== "edit" || e.senderUserId === device.userId));
      const target = messages.length === 0 ? undefined : messages[action.message % messages.length]!;
      if (!target) return;
      const body: Parameters<typeof client.act>[2] =
        action.kind === "edit"
          ? { case: "edit", value: { kind: { case: "text", value: { text: `${device.deviceId} edits ${device.sends.length}` } } } }
          : action.kind === "redact"
            ? { case: "redact", value: {} }
            : { case: "react", value: { emoji: action.message % 2 === 0 ? "👍" : "🎉", remove: "remove" in action && action.remove } };
      device.sends.push(client.act(id, target.seq, body, now));
      return;
    }
    case "setMode": {
      const id = action.conversation === null ? "" : pick(mine(), action.conversation);
      if (id !== undefined) client.setReceiveMode(id, action.mode, now);
      return;
    }
    case "setBackground":
      client.setDeviceState(action.background ? DeviceState.BACKGROUND : DeviceState.FOREGROUND, now);
      return;
    case "markRead": {
      const id = pick(mine(), action.conversation);
      if (id) client.markRead(id, BigInt(sim.store.lastSeq(id)), now);
      return;
    }
    case "drop":
      sim.dropConnection(device);
      return;
    case "partition":
      sim.partition(device, now + action.ms);
      return;
    case "blackhole":
      sim.blackhole(device);
      return;
    case "restartClient":
      sim.restartClient(device);
      return;
  }
}
