// SPDX-License-Identifier: Apache-2.0
// apibody.ts: the runtime API's request bodies, validated by schemas derived from the config's, errors in the config's shape ("service.port: "abc" is not a number").

import { z } from 'zod';
import { configSchema, issueProblems, realSchema, serviceSchema } from './config';
import { UsageError } from './errors';

/** The schema without its default: an edit that leaves a field out must not reset it to the default. */
function noDefault(s: z.ZodType): z.ZodType {
  return s instanceof z.ZodDefault ? (s.unwrap() as z.ZodType) : s;
}

/** Each field of `shape` but `keep` made optional (absent: unchanged) and nullable (null: removed, so back to its default). */
function editable(shape: Record<string, z.ZodType>, keep: readonly string[]): Record<string, z.ZodType> {
  return Object.fromEntries(
    Object.entries(shape)
      .filter(([k]) => !keep.includes(k))
      .map(([k, s]) => [k, noDefault(s).nullable().optional()]),
  );
}

/** A service as the API names it: the config's vip, port and protocol (tcp when absent), nothing else. */
const serviceKey = serviceSchema.pick({ vip: true, port: true, protocol: true });

/** service/edit: the key plus any setting of the service; its reals change through real/*. */
const serviceEdit = serviceKey.extend(editable(serviceSchema.shape, ['vip', 'port', 'protocol', 'reals'])) as unknown as z.ZodType<
  z.infer<typeof serviceKey> & Record<string, unknown>
>;

/** real/edit: the address plus any setting of the real. */
const realEdit = realSchema.pick({ address: true }).extend(editable(realSchema.shape, ['address'])) as unknown as z.ZodType<
  { address: string } & Record<string, unknown>
>;

/** ipvsadm --set: 0 (or absent) keeps a value, as IPVS does; any other value is held to the config's range. */
const timeoutsShape = (configSchema.shape.timeouts as z.ZodDefault<z.ZodObject>).unwrap().shape as Record<string, z.ZodType>;
const timeoutsSet = z.strictObject(
  Object.fromEntries(Object.entries(timeoutsShape).map(([k, s]) => [k, z.preprocess((v) => (v === 0 ? undefined : v), noDefault(s).optional())])),
);

/** ipvsadm --start-daemon: the daemon's settings as the config's sync section takes them (defaults filled there). */
const syncShape = (configSchema.shape.sync as z.ZodOptional<z.ZodObject>).unwrap().shape as Record<string, z.ZodOptional<z.ZodObject>>;
const syncRole = z.enum(['master', 'backup'], { message: 'must be master or backup' });

/** Every POST body; unknown fields are refused at every level, as in the config file. */
export const API_BODIES = {
  'POST /v1/apply': z.strictObject({ config: z.looseObject({}), dryRun: z.boolean().optional() }),
  'POST /v1/reload': z.strictObject({}),
  'POST /v1/zero': z.strictObject({ service: serviceKey.optional() }),
  'POST /v1/clear': z.strictObject({}),
  'POST /v1/timeouts': z.strictObject({ timeouts: timeoutsSet }),
  'POST /v1/service/add': z.strictObject({ service: serviceSchema }),
  'POST /v1/service/edit': z.strictObject({ service: serviceEdit }),
  'POST /v1/service/delete': z.strictObject({ service: serviceKey }),
  'POST /v1/real/add': z.strictObject({ service: serviceKey, real: realSchema }),
  'POST /v1/real/edit': z.strictObject({ service: serviceKey, real: realEdit }),
  'POST /v1/sync/start': z.strictObject({ role: syncRole, daemon: syncShape.master!.unwrap() }),
  'POST /v1/sync/stop': z.strictObject({ role: syncRole }),
  'POST /v1/real/delete': z.strictObject({ service: serviceKey, real: realSchema.pick({ address: true }) }),
  /** keepalived's notify script (`xlvs director notify`): the state it entered, for which vrrp_instance. */
  'POST /v1/director/notify': z.strictObject({
    state: z.enum(['master', 'backup', 'fault'], { message: 'must be master, backup or fault' }),
    instance: z
      .string()
      .regex(/^[\x21-\x7e]{1,64}$/, 'must be 1 to 64 printable characters without spaces (a vrrp_instance name)')
      .optional(),
  }),
  'POST /v1/director/drain': z.strictObject({}),
  'POST /v1/director/undrain': z.strictObject({}),
};

export type BodyRoute = keyof typeof API_BODIES;
export type Body<R extends BodyRoute> = z.infer<(typeof API_BODIES)[R]>;

/** The body of a call to `route`, or a UsageError listing each problem with its path from the body's root. */
export function parseBody<R extends BodyRoute>(route: R, body: unknown): Body<R> {
  const r = (API_BODIES[route] as z.ZodType).safeParse(body);
  if (!r.success) throw new UsageError(`invalid request body for ${route}`, issueProblems(body, r.error.issues));
  return r.data as Body<R>;
}
