import { Feature, type Welcome } from "../../gen/imwire/v1/connection_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";

/** EXT-5: every feature this client implements, offered in hello unless ClientOptions.features says otherwise. */
export const implementedFeatures: readonly Feature[] = [
  Feature.CONVERSATION_SUMMARIES,
  Feature.MEMBER_PAGES,
  Feature.MESSAGE_ACTIONS,
  Feature.EPHEMERAL,
  Feature.THREADS,
  Feature.HISTORY_VISIBILITY,
  Feature.DELETE_FOR_ME,
  Feature.RECEIPTS,
];

/** The spec's name of a feature, for messages: FEATURE_MEMBER_PAGES. */
export function featureName(feature: Feature): string {
  const name = Feature[feature];
  return name === undefined ? `feature ${feature}` : `FEATURE_${name}`;
}

/**
 * CONN-3, EXT-5: why a client that offered `offered` must refuse this
 * welcome's features — one it did not offer. A server is authoritative for
 * the features in force, but only among those the client can speak.
 */
export function featureProblem(welcome: Welcome, offered: readonly Feature[]): string | undefined {
  const unoffered = welcome.features.find((feature) => !offered.includes(feature));
  return unoffered === undefined ? undefined : `CONN-3: ${featureName(unoffered)} was not offered (EXT-5)`;
}

/** EXT-5: the feature a request belongs to; undefined for the requests of version 1 as first published. */
export function requiredFeature(request: Frame["body"]["case"]): Feature | undefined {
  if (request === "listMembers") return Feature.MEMBER_PAGES;
  if (request === "actOnMessage") return Feature.MESSAGE_ACTIONS;
  if (request === "setPresenceSharing") return Feature.EPHEMERAL;
  if (request === "setHistoryVisibility") return Feature.HISTORY_VISIBILITY;
  if (request === "hideMessage") return Feature.DELETE_FOR_ME;
  if (request === "listReceipts") return Feature.RECEIPTS;
  return undefined;
}
