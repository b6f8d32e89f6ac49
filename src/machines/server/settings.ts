import { create } from "@bufbuild/protobuf";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import {
  DeviceState,
  DeviceStateSetSchema,
  ReceiveSettingsSchema,
  type DeviceStateSet,
  type ReceiveSettings,
  type SetDeviceState,
  type SetReceiveSettings,
} from "../../gen/imwire/v1/settings_pb.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { checkId } from "./ids.js";
import { RequestError } from "./request-error.js";

/** SetReceiveSettings (RECV-1, RECV-4). */
export function setReceiveSettings(core: ServerCore, connection: Connection, request: SetReceiveSettings): ReceiveSettings {
  const { store } = core;
  const { conversationId, mode } = request.settings!;
  const me = connection.userId;
  if (conversationId !== "") {
    checkId(conversationId, "settings.conversation_id");
    if (!store.conversation(conversationId)) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${conversationId}`, "RECV-1");
    if (!store.membership(conversationId, me)) throw new RequestError(ErrorCode.PERMISSION_DENIED, "not a member", "RECV-1");
  }
  const stored = create(ReceiveSettingsSchema, { conversationId, mode });
  if (store.receiveMode(me, conversationId) !== mode) {
    store.setReceiveMode(me, conversationId, mode);
    core.appendUserEntry(me, { case: "receiveSettings", value: stored });
  }
  return stored;
}

/** SetDeviceState (RECV-5): the connection's device only; it changes the form of what is pushed next. */
/** PSH-1: a push token (an APNs device token, an FCM registration, a Web Push endpoint) is at most this long. */
export const MAX_PUSH_TOKEN_BYTES = 4_096;

export function setDeviceState(core: ServerCore, connection: Connection, request: SetDeviceState): DeviceStateSet {
  if (request.state !== DeviceState.FOREGROUND && request.state !== DeviceState.BACKGROUND) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `unknown device state ${request.state}`, "RECV-5");
  }
  if (request.viewingConversationId !== "") checkId(request.viewingConversationId, "viewing_conversation_id");
  connection.deviceState = request.state;
  if (request.pushService !== "") {
    checkId(request.pushService, "push_service");
    if (new TextEncoder().encode(request.pushToken).length > MAX_PUSH_TOKEN_BYTES) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `push_token longer than ${MAX_PUSH_TOKEN_BYTES} bytes`, "PSH-1");
    connection.pushService = request.pushService;
    connection.pushToken = request.pushToken;
    // PSH-1: kept for the device while it is away, so that it can be alerted once its connection is gone.
    const kept = core.store.pushRegistrations(connection.userId).find((r) => r.deviceId === connection.deviceId);
    if (kept?.pushService !== request.pushService || kept.pushToken !== request.pushToken) {
      core.store.setPushRegistration(connection.userId, { deviceId: connection.deviceId, pushService: request.pushService, pushToken: request.pushToken });
    }
  }
  return create(DeviceStateSetSchema, { state: request.state });
}
