import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteUserLinksResponseSchema,
  GetUserLinksResponseSchema,
  SetUserLinksResponseSchema,
  UserLinksSchema,
  type SessionControl,
  type UserLinks as UserLinksMessage,
} from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { UserLinks } from "../sessions/user-links.js";
import type { UserLinksRecord } from "../store/link-types.js";
import { callerOf } from "./principal-context.js";

export type UserLinksImpl = Pick<ServiceImpl<typeof SessionControl>, "setUserLinks" | "getUserLinks" | "deleteUserLinks">;

/** Identity links: messages to the domain's inputs, its records to messages. */
export function userLinksService(links: UserLinks): UserLinksImpl {
  return {
    async setUserLinks(req, ctx) {
      const record = await links.set(callerOf(ctx), {
        userId: req.userId,
        emails: req.emails,
        identities: req.identities.map((i) => ({ iss: i.iss, sub: i.sub })),
        providerUserIds: req.providerUserIds,
      });
      return create(SetUserLinksResponseSchema, { links: linksMessage(record) });
    },

    async getUserLinks(req, ctx) {
      return create(GetUserLinksResponseSchema, { links: linksMessage(await links.get(callerOf(ctx), req.userId)) });
    },

    async deleteUserLinks(req, ctx) {
      await links.delete(callerOf(ctx), req.userId);
      return create(DeleteUserLinksResponseSchema);
    },
  };
}

function linksMessage(r: UserLinksRecord): UserLinksMessage {
  return create(UserLinksSchema, {
    userId: r.userId,
    emails: r.emails,
    identities: r.identities,
    providerUserIds: r.providerUserIds,
    createTime: timestampFromDate(r.createdAt),
    updateTime: timestampFromDate(r.updatedAt),
  });
}
