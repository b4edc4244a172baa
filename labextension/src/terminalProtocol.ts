/**
 * The "sshpty.terminal" comm and the terminal display: the message vocabulary between the live
 * terminal in a cell's output (terminal.ts) and the kernel, the validation of what the kernel
 * sends, and the sizing arithmetic. Pure: no DOM, no services, so it is unit-tested with
 * node --test.
 *
 * A cell running a full-screen program shows a display_data with TERMINAL_MIME, whose value
 * names the terminal: {"version": 1, "terminal": ID}. The frontend opens one comm per notebook
 * kernel with {"version": 1, "tab": TOKEN} and, for every terminal it shows, sends "attach";
 * the kernel answers with a "screen" event and then streams "output" (and "size", "ended").
 * Keys typed in the owner's terminal go back as "keys"; a size change of the owner's output
 * area as "resize"; a renderer that goes away sends "detach".
 */

/** The comm's target_name, registered by the kernel. */
export const TERMINAL_COMM_TARGET = 'sshpty.terminal';

/** The display's MIME type; the renderer is registered for it. */
export const TERMINAL_MIME = 'application/vnd.sshpty.terminal+json';

/** The version of the display value, the comm's open data and its messages. */
export const TERMINAL_VERSION = 1;

/** window.sessionStorage key of the tab token (one per browser tab, kept across reloads). */
export const TAB_STORAGE_KEY = 'sshpty-tab';

/** The size limits of what the frontend asks for (attach, resize). */
export const MIN_COLS = 20;
export const MAX_COLS = 500;
export const MIN_ROWS = 5;
export const MAX_ROWS = 200;

/** The size asked for when the output area cannot be measured (hidden, not laid out yet). */
export const DEFAULT_SIZE: TerminalSize = { cols: 80, rows: 24 };

/** The largest cols or rows accepted from the kernel: anything beyond is a malformed message. */
export const MAX_DIMENSION = 10000;

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** "screen": the answer to attach; reset, resize to cols × rows, write data. */
export interface ScreenEvent extends TerminalSize {
  event: 'screen';
  terminal: string;
  /** true: this page owns the keys; false: it only watches. */
  typing: boolean;
  data: string;
}

/** "output": more of the program's output, to write. */
export interface OutputEvent {
  event: 'output';
  terminal: string;
  data: string;
}

/** "size": the PTY's size changed. */
export interface SizeEvent extends TerminalSize {
  event: 'size';
  terminal: string;
}

/**
 * "ended": the program is over; input is disabled. `screen`: the program's last screen as
 * text, when it held one (a page whose display the kernel cannot replace, one that did not
 * run the cell, shows it); without it the terminal stays as it is (a %shell session).
 */
export interface EndedEvent {
  event: 'ended';
  terminal: string;
  screen?: string;
}

export type TerminalEvent = ScreenEvent | OutputEvent | SizeEvent | EndedEvent;

export type EventParseResult =
  { ok: true; event: TerminalEvent } | { ok: false; reason: string };

/** comm_open data. */
export interface OpenData {
  version: typeof TERMINAL_VERSION;
  tab: string;
}

export interface AttachRequest extends TerminalSize {
  request: 'attach';
  terminal: string;
}

export interface KeysRequest {
  request: 'keys';
  terminal: string;
  data: string;
  /** Present (true) only for xterm's onBinary data: code units 0-255, one per byte. */
  binary?: true;
}

export interface ResizeRequest extends TerminalSize {
  request: 'resize';
  terminal: string;
}

export interface DetachRequest {
  request: 'detach';
  terminal: string;
}

export type TerminalRequest =
  AttachRequest | KeysRequest | ResizeRequest | DetachRequest;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A terminal id: a non-empty string (the kernel's own; not interpreted here). */
function isTerminalId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

function isDimension(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= 1 &&
    value <= MAX_DIMENSION
  );
}

/**
 * The terminal id a display names, or null when the value is not a version 1 terminal
 * display (the renderer then shows nothing live).
 */
export function parseTerminalDisplay(value: unknown): string | null {
  if (!isRecord(value) || value.version !== TERMINAL_VERSION) {
    return null;
  }
  return isTerminalId(value.terminal) ? value.terminal : null;
}

function sizeOf(
  data: Record<string, unknown>
): { ok: true; size: TerminalSize } | { ok: false; reason: string } {
  const { cols, rows } = data;
  if (!isDimension(cols) || !isDimension(rows)) {
    return {
      ok: false,
      reason: `size ${JSON.stringify(cols)}x${JSON.stringify(rows)} is not two integers in 1..${MAX_DIMENSION}`
    };
  }
  return { ok: true, size: { cols, rows } };
}

/**
 * Check a comm_msg's data against the kernel's events. Unknown extra fields are ignored;
 * anything missing or of the wrong type, or an unknown event, is refused with the reason.
 * Never throws.
 */
export function parseTerminalEvent(data: unknown): EventParseResult {
  if (!isRecord(data)) {
    return { ok: false, reason: 'not an object' };
  }
  const { event, terminal } = data;
  if (!isTerminalId(terminal)) {
    return { ok: false, reason: 'terminal is not a non-empty string' };
  }
  switch (event) {
    case 'screen': {
      const size = sizeOf(data);
      if (!size.ok) {
        return size;
      }
      if (typeof data.typing !== 'boolean') {
        return { ok: false, reason: 'typing is not a boolean' };
      }
      if (typeof data.data !== 'string') {
        return { ok: false, reason: 'data is not a string' };
      }
      return {
        ok: true,
        event: {
          event,
          terminal,
          ...size.size,
          typing: data.typing,
          data: data.data
        }
      };
    }
    case 'output':
      if (typeof data.data !== 'string') {
        return { ok: false, reason: 'data is not a string' };
      }
      return { ok: true, event: { event, terminal, data: data.data } };
    case 'size': {
      const size = sizeOf(data);
      return size.ok
        ? { ok: true, event: { event, terminal, ...size.size } }
        : size;
    }
    case 'ended':
      if (data.screen !== undefined && typeof data.screen !== 'string') {
        return { ok: false, reason: 'screen is not a string' };
      }
      return typeof data.screen === 'string'
        ? { ok: true, event: { event, terminal, screen: data.screen } }
        : { ok: true, event: { event, terminal } };
    default:
      return { ok: false, reason: `unknown event ${JSON.stringify(event)}` };
  }
}

export function openData(tab: string): OpenData {
  return { version: TERMINAL_VERSION, tab };
}

export function attachRequest(
  terminal: string,
  size: TerminalSize
): AttachRequest {
  return { request: 'attach', terminal, cols: size.cols, rows: size.rows };
}

export function keysRequest(
  terminal: string,
  data: string,
  binary = false
): KeysRequest {
  return binary
    ? { request: 'keys', terminal, data, binary: true }
    : { request: 'keys', terminal, data };
}

export function resizeRequest(
  terminal: string,
  size: TerminalSize
): ResizeRequest {
  return { request: 'resize', terminal, cols: size.cols, rows: size.rows };
}

export function detachRequest(terminal: string): DetachRequest {
  return { request: 'detach', terminal };
}

function clamp(value: number, min: number, max: number, fallback: number) {
  if (!Number.isFinite(value)) {
    return fallback;
  }
  return Math.min(max, Math.max(min, Math.floor(value)));
}

/** A size the frontend may ask for: integers, cols in 20..500, rows in 5..200. */
export function clampSize(size: TerminalSize): TerminalSize {
  return {
    cols: clamp(size.cols, MIN_COLS, MAX_COLS, DEFAULT_SIZE.cols),
    rows: clamp(size.rows, MIN_ROWS, MAX_ROWS, DEFAULT_SIZE.rows)
  };
}

/**
 * The size a renderer would like: cols from its width (FitAddon's proposed cols; undefined
 * when it cannot measure, e.g. hidden), rows as they are (the kernel's; the output area grows
 * with the terminal, so its height is no constraint). Clamped.
 */
export function wantedSize(
  proposedCols: number | undefined,
  rows: number
): TerminalSize {
  return clampSize({ cols: proposedCols ?? DEFAULT_SIZE.cols, rows });
}

/**
 * The resize the owner should ask for, or null when none: the width-derived cols differ from
 * the PTY's (its current size). Rows stay the PTY's (clamped into range).
 */
export function resizeFor(
  proposedCols: number | undefined,
  current: TerminalSize
): TerminalSize | null {
  if (proposedCols === undefined) {
    return null;
  }
  const wanted = wantedSize(proposedCols, current.rows);
  return wanted.cols === current.cols && wanted.rows === current.rows
    ? null
    : wanted;
}

const TAB_TOKEN = /^[0-9A-Za-z_-]{8,64}$/;

/** A fresh tab token: 32 hex digits from 16 random bytes. */
export function newTabToken(randomBytes: (n: number) => Uint8Array): string {
  return Array.from(randomBytes(16), b => b.toString(16).padStart(2, '0')).join(
    ''
  );
}

/** The part of window.sessionStorage the tab token needs. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * This tab's token: the one in storage if it looks like one, else a new one, stored. Storage
 * that is missing or throws (disabled, quota) gives a new token each call, never an error.
 */
export function tabToken(
  storage: TokenStorage | null,
  make: () => string
): string {
  try {
    const stored = storage?.getItem(TAB_STORAGE_KEY) ?? null;
    if (stored !== null && TAB_TOKEN.test(stored)) {
      return stored;
    }
  } catch {
    // sessionStorage refused (e.g. disabled): a token for this page only.
  }
  const token = make();
  try {
    storage?.setItem(TAB_STORAGE_KEY, token);
  } catch {
    // As above: the token then lasts as long as the page.
  }
  return token;
}

/**
 * Whether a keydown is the chord that leaves the terminal (focus back to the notebook, in
 * command mode): Ctrl+Shift+Enter, no Alt, no Meta. Why this chord: see terminal.ts.
 */
export function isLeaveChord(event: {
  key: string;
  ctrlKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
  metaKey: boolean;
}): boolean {
  return (
    event.key === 'Enter' &&
    event.ctrlKey &&
    event.shiftKey &&
    !event.altKey &&
    !event.metaKey
  );
}
