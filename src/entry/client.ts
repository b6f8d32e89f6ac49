/**
 * imwire/client and @imwire/protocol/client: one device, as a sans-I/O state
 * machine, what it takes and gives, and ClientDriver, which runs it on any
 * FrameTransport and clock (the browser's WebSocket, an in-memory link on
 * virtual time). Portable: nothing here needs Node. ClientPolicy (the
 * seam through which tests plant broken decisions) is left out on purpose:
 * it is test equipment, not API.
 */
export { ClientMachine } from "../machines/client/client-machine.js";
export { defaultClientOptions, type ClientDeps, type ClientOptions } from "../machines/client/options.js";
export type { ClientEvent, ClientOutput, ClientStatus } from "../machines/client/types.js";
export type { ConversationView } from "../machines/client/conversation-state.js";
export { ClientDriver, type ClientDriverOptions } from "../client/client-driver.js";
export { clockTimers, type ClockTimerOptions, type WakeupTimer, type WakeupTimerFactory } from "../runtime/wakeup-timer.js";
export { virtualTimers, type VirtualScheduler } from "../runtime/virtual-timer.js";
export { MessageView, type MessageState } from "../view/message-view.js";
export { MemoryClientStore, type ClientStore } from "../client/client-store.js";
export type { PersistedClientState } from "../machines/client/persisted-state.js";
