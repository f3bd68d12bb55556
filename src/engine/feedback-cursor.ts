import { createHash } from 'node:crypto';
import { BadInputError } from '../core/errors.ts';

/**
 * The `cursor` of a feedback answer (SPEC §6.2, "Feedback for agents"): what the answer showed,
 * so that `?since=<cursor>` can leave out what is unchanged. It holds no server state — any replica
 * reads it — and no text: per ref (a 4-byte tag of its origin and branch), a 4-byte fingerprint of
 * each thread and failing check served. Bounded: at most `MAX_CURSOR_ITEMS` fingerprints (items
 * past them come back as new: repeating one is safer than hiding one): under 7,000 characters
 * (a ref with 50 threads and 50 checks: 556).
 *
 * Layout (then base64url): version (1 byte) · chat tag (4) · refs (2) · per ref: tag (4), items
 * (2), fingerprints (4 each) · checksum (4: SHA-256 of all before). A cursor of another chat, cut,
 * altered or of another version is refused (400 `bad_request`).
 */
const VERSION = 1;
export const MAX_CURSOR_ITEMS = 1000;
/** Longest cursor text accepted: what `MAX_CURSOR_ITEMS` fingerprints in at most 200 refs take. */
const MAX_CURSOR_CHARS = Math.ceil(((1 + 4 + 2 + 200 * 6 + MAX_CURSOR_ITEMS * 4 + 4) * 4) / 3);

/** Fingerprints per ref tag. */
export type CursorState = Map<string, Set<number>>;

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest();
const tag4 = (text: string) => sha(text).readUInt32BE(0);

/** The tag of a ref in a cursor. */
export const refTag = (origin: string, branch: string) =>
  tag4(`ref\u0000${origin}\u0000${branch}`).toString(16);

/** The fingerprint of one served item: any change to what is served changes it. */
export const itemFingerprint = (kind: 'check' | 'thread', item: unknown) =>
  tag4(`${kind}\u0000${JSON.stringify(item)}`);

export function encodeCursor(chatId: string, state: CursorState): string {
  const refs: [string, number[]][] = [];
  let room = MAX_CURSOR_ITEMS;
  for (const [tag, items] of state) {
    if (room === 0) break;
    const list = [...items].slice(0, room);
    room -= list.length;
    refs.push([tag, list]);
  }
  const size = 1 + 4 + 2 + refs.reduce((n, [, l]) => n + 6 + l.length * 4, 0);
  const buf = Buffer.alloc(size + 4);
  let at = buf.writeUInt8(VERSION, 0);
  at = buf.writeUInt32BE(tag4(`chat\u0000${chatId}`), at);
  at = buf.writeUInt16BE(refs.length, at);
  for (const [tag, list] of refs) {
    at = buf.writeUInt32BE(Number.parseInt(tag, 16), at);
    at = buf.writeUInt16BE(list.length, at);
    for (const f of list) at = buf.writeUInt32BE(f, at);
  }
  sha(buf.subarray(0, size)).copy(buf, size, 0, 4);
  return buf.toString('base64url');
}

/** The state a cursor holds; throws BadInputError for anything but a cursor this chat was given. */
export function decodeCursor(chatId: string, cursor: string): CursorState {
  const bad = () => new BadInputError('since is not a cursor of this chat’s feedback');
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const buf = Buffer.from(cursor, 'base64url');
  if (buf.length < 11) throw bad();
  const size = buf.length - 4;
  if (!sha(buf.subarray(0, size)).subarray(0, 4).equals(buf.subarray(size))) throw bad();
  if (buf.readUInt8(0) !== VERSION || buf.readUInt32BE(1) !== tag4(`chat\u0000${chatId}`)) throw bad();
  const state: CursorState = new Map();
  let at = 5;
  const refs = buf.readUInt16BE(at);
  at += 2;
  for (let r = 0; r < refs; r++) {
    if (at + 6 > size) throw bad();
    const tag = buf.readUInt32BE(at).toString(16);
    const n = buf.readUInt16BE(at + 4);
    at += 6;
    if (at + n * 4 > size) throw bad();
    const items = new Set<number>();
    for (let i = 0; i < n; i++) items.add(buf.readUInt32BE(at + i * 4));
    at += n * 4;
    state.set(tag, items);
  }
  if (at !== size) throw bad();
  return state;
}
