/**
 * SSF event streams (SSF 1.0 §8) as the store keeps them. The outbox addresses a stream as the
 * subscriber `stream:<stream_id>` (src/store/outbox-types.ts) while it is not disabled and its
 * events_delivered hold CAEP session-revoked.
 */

export type StreamStatus = "enabled" | "paused" | "disabled";

/** A stream's push delivery (SSF 1.0 §6.1.1, RFC 8935). */
export interface StreamDelivery {
  method: string;
  endpoint_url: string;
  /** Sent as the Authorization header's value: a secret of the receiver's, never answered. */
  authorization_header?: string;
}

/** The stream's configuration as kept: the receiver's values and those the transmitter set (SSF 1.0 §8.1.1). */
export interface StoredStreamConfig {
  delivery: StreamDelivery;
  aud: string;
  events_requested?: string[];
  events_delivered: string[];
  description?: string;
}

export interface StreamRecord {
  streamId: string;
  status: StreamStatus;
  statusReason?: string;
  /** Whether events_delivered holds CAEP session-revoked. */
  wantsSessionRevoked: boolean;
  config: StoredStreamConfig;
  createdAt: Date;
  updatedAt: Date;
}

/** What a change of a stream sets: its configuration, or its status. */
export type StreamChange =
  | { config: StoredStreamConfig; wantsSessionRevoked: boolean }
  | { status: StreamStatus; statusReason?: string };

export interface StreamStore {
  /** Adds a stream unless `maxStreams` exist already (false then). */
  createStream(stream: StreamRecord, maxStreams: number): Promise<boolean>;
  getStream(streamId: string): Promise<StreamRecord | undefined>;
  /** Every stream, oldest first. */
  listStreams(): Promise<StreamRecord[]>;
  /**
   * Changes a stream; undefined when there is none. Disabling it marks its pending deliveries
   * `dropped` in the same transaction.
   */
  changeStream(streamId: string, change: StreamChange): Promise<StreamRecord | undefined>;
  /** Deletes a stream and marks its pending deliveries `dropped`, in one transaction; false when there was none. */
  deleteStream(streamId: string): Promise<boolean>;
}
