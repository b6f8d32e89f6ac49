import type { FrameCase } from "./frame-codec.js";

/** Who may send a frame body (SPEC.md §4.1, ENV-7). */
export type FrameSender = "client" | "server" | "both";

/** What role a frame body plays (SPEC.md §4.1, ENV-2). */
export type FrameKind = "request" | "answer" | "push" | "notice" | "answer or notice";

export interface FrameCatalogueEntry {
  readonly sender: FrameSender;
  readonly kind: FrameKind;
  /** For a request: the body of its positive answer. */
  readonly answer?: FrameCase;
}

/** SPEC.md §4.1 as data: the state machines check direction and answers against it. */
export const frameCatalogue: Readonly<Record<FrameCase, FrameCatalogueEntry>> = {
  sendMessage: { sender: "client", kind: "request", answer: "sendAck" },
  sendAck: { sender: "server", kind: "answer" },
  deliver: { sender: "server", kind: "push" },
  deliveryAck: { sender: "client", kind: "notice" },
  ping: { sender: "both", kind: "notice", answer: "pong" },
  pong: { sender: "both", kind: "notice" },
  error: { sender: "both", kind: "answer or notice" },
  syncConversation: { sender: "client", kind: "request", answer: "conversationPage" },
  conversationPage: { sender: "server", kind: "answer" },
  syncUser: { sender: "client", kind: "request", answer: "userPage" },
  userPage: { sender: "server", kind: "answer" },
  markRead: { sender: "client", kind: "request", answer: "readMarker" },
  readMarker: { sender: "server", kind: "answer" },
  hello: { sender: "client", kind: "request", answer: "welcome" },
  welcome: { sender: "server", kind: "answer" },
  authenticate: { sender: "client", kind: "request", answer: "authenticated" },
  authenticated: { sender: "server", kind: "answer" },
  goAway: { sender: "server", kind: "notice" },
  openConversation: { sender: "client", kind: "request", answer: "conversationOpened" },
  conversationOpened: { sender: "server", kind: "answer" },
  leaveConversation: { sender: "client", kind: "request", answer: "conversationLeft" },
  conversationLeft: { sender: "server", kind: "answer" },
  setReceiveSettings: { sender: "client", kind: "request", answer: "receiveSettings" },
  receiveSettings: { sender: "server", kind: "answer" },
  setDeviceState: { sender: "client", kind: "request", answer: "deviceStateSet" },
  deviceStateSet: { sender: "server", kind: "answer" },
  listMembers: { sender: "client", kind: "request", answer: "memberPage" },
  memberPage: { sender: "server", kind: "answer" },
  actOnMessage: { sender: "client", kind: "request", answer: "sendAck" },
  setTyping: { sender: "client", kind: "notice" },
  typing: { sender: "server", kind: "notice" },
  presence: { sender: "server", kind: "notice" },
  setPresenceSharing: { sender: "client", kind: "request", answer: "presenceSharing" },
  presenceSharing: { sender: "server", kind: "answer" },
  setHistoryVisibility: { sender: "client", kind: "request", answer: "conversationOpened" },
  hideMessage: { sender: "client", kind: "request", answer: "messageHidden" },
  messageHidden: { sender: "server", kind: "answer" },
  listReceipts: { sender: "client", kind: "request", answer: "receipts" },
  receipts: { sender: "server", kind: "answer" },
};

/** May `sender` send a frame with this body? Unknown bodies are ENV-4's business, not this. */
export function maySend(sender: "client" | "server", frameCase: FrameCase): boolean {
  const entry = frameCatalogue[frameCase];
  return entry.sender === "both" || entry.sender === sender;
}
