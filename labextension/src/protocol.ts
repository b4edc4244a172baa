/**
 * The "sshpty.host" comm: the whole message vocabulary between this extension and the kernel
 * (the kernel's side follows the same spec, issue 13), and the validation of what it sends.
 *
 * The frontend opens the comm with empty data once per kernel; the kernel answers at once with
 * a Presence and sends one more on every change. The frontend may send PRESENCE_REQUEST to be
 * sent the current one again. Pure: no DOM, no services, so it is unit-tested with node --test.
 */

/** The comm's target_name, registered by the kernel. */
export const COMM_TARGET = 'sshpty.host';

/** comm_msg data asking the kernel to send its current Presence again. */
export const PRESENCE_REQUEST = { request: 'presence' } as const;

/** The Presence format this extension reads; a kernel sending another is not understood. */
export const PRESENCE_VERSION = 1;

/** Every connection state a kernel reports, in the order a login goes through them. */
export const STATES = [
  'not-logged-in',
  'connecting',
  'reading',
  'connected',
  'lost',
  'reconnecting',
  'failed'
] as const;

export type PresenceState = (typeof STATES)[number];

/** A host's mark (the user's marks file, or `%mark`): a name and a colour from the kernel's palette. */
export interface Mark {
  name: string;
  /** Palette name: red, orange, yellow, green, blue, purple or grey. */
  colour: string;
  /** The palette colour as "#rrggbb"; checked again before it reaches a style. */
  css: string;
}

/** Where a kernel's cells run, as the kernel reports it. */
export interface Presence {
  version: typeof PRESENCE_VERSION;
  state: PresenceState;
  /** The name given to %login (e.g. "web1"); null before any login. */
  target: string | null;
  user: string | null;
  host: string | null;
  /** Ready to show, e.g. "root@127.0.0.1 (web1)" or "not logged in". */
  label: string;
  mark: Mark | null;
}

export type ParseResult =
  { ok: true; presence: Presence } | { ok: false; reason: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isState(value: unknown): value is PresenceState {
  return (
    typeof value === 'string' && (STATES as readonly string[]).includes(value)
  );
}

function optionalString(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

function parseMark(
  value: unknown
): { ok: true; mark: Mark | null } | { ok: false; reason: string } {
  if (value === null) {
    return { ok: true, mark: null };
  }
  if (!isRecord(value)) {
    return { ok: false, reason: 'mark is neither null nor an object' };
  }
  const { name, colour, css } = value;
  if (
    typeof name !== 'string' ||
    typeof colour !== 'string' ||
    typeof css !== 'string'
  ) {
    return { ok: false, reason: 'mark needs string name, colour and css' };
  }
  return { ok: true, mark: { name, colour, css } };
}

/**
 * Check a comm_msg's data against the Presence format. Unknown extra fields are ignored, so a
 * kernel may add some; anything missing, of the wrong type or an unknown state is refused with
 * the reason, for the console.
 */
export function parsePresence(data: unknown): ParseResult {
  if (!isRecord(data)) {
    return { ok: false, reason: 'not an object' };
  }
  if (data.version !== PRESENCE_VERSION) {
    return {
      ok: false,
      reason: `version ${JSON.stringify(data.version)}, expected ${PRESENCE_VERSION}`
    };
  }
  if (!isState(data.state)) {
    return {
      ok: false,
      reason: `unknown state ${JSON.stringify(data.state)}`
    };
  }
  for (const key of ['target', 'user', 'host'] as const) {
    if (!optionalString(data[key])) {
      return { ok: false, reason: `${key} is neither a string nor null` };
    }
  }
  if (typeof data.label !== 'string') {
    return { ok: false, reason: 'label is not a string' };
  }
  const mark = parseMark(data.mark);
  if (!mark.ok) {
    return mark;
  }
  return {
    ok: true,
    presence: {
      version: PRESENCE_VERSION,
      state: data.state,
      target: data.target as string | null,
      user: data.user as string | null,
      host: data.host as string | null,
      label: data.label,
      mark: mark.mark
    }
  };
}
