import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { uuid } from '../api/schemas.ts';
import { BadInputError } from '../core/errors.ts';
import { HttpError } from './http-error.ts';
import type { Principal } from './keys.ts';

/** What every route's context carries once the key is known. */
export type Env = { Variables: { principal: Principal } };

/** 413 with the error shape of every other failure. */
export const limitBody = (maxSize: number, what: string) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new HttpError(413, 'payload_too_large', `${what} are limited to ${maxSize} bytes`);
    },
  });

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new BadInputError(describe(r.error));
  return r.data;
}

export async function jsonBody(c: Context, optional = false): Promise<unknown> {
  const body = await c.req.text();
  if (body.trim() === '') {
    if (optional) return {};
    throw new BadInputError('request body must be a JSON object');
  }
  try {
    return JSON.parse(body);
  } catch {
    throw new BadInputError('request body is not valid JSON');
  }
}

/** A path parameter that must be a UUID, lower-cased. */
export function uuidParam(c: Context, name: string, what: string): string {
  const r = uuid.safeParse(c.req.param(name) ?? '');
  if (!r.success) throw new BadInputError(`${what} must be a UUID`);
  return r.data;
}

/** undefined for admins (every owner), else the key's owner. */
export function ownerScope(c: Context<Env>): string | undefined {
  const p = c.get('principal');
  return p.admin ? undefined : (p.owner_id ?? undefined);
}

/** An owner key may only name its own owner. */
export function checkOwner(c: Context<Env>, owner: string): void {
  const own = ownerScope(c);
  if (own !== undefined && own !== owner)
    throw new HttpError(403, 'forbidden', 'this key may only act for its own owner');
}

export function requireAdmin(c: Context<Env>): void {
  if (!c.get('principal').admin) throw new HttpError(403, 'forbidden', 'only the admin key may manage keys');
}
