// SPDX-License-Identifier: Apache-2.0
// event.ts: the one shape in which the daemon's parts report what happened (the daemon turns it into a log line).

export type EventLevel = 'info' | 'warn' | 'error';

/** A message for the operator and its structured fields (pino's order is the daemon's business, not the reporter's). */
export type EventSink = (level: EventLevel, msg: string, fields: Record<string, unknown>) => void;
