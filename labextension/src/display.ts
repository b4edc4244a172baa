/**
 * What a Presence looks like on screen: the texts, the tooltip, the tone and the mark's
 * colours. Pure: no DOM, so the status bar item and the toolbar item show the same thing and
 * the rules are unit-tested.
 */

import type { Mark, Presence, PresenceState } from './protocol';

/** A presence state, or "waiting": an sshpty kernel that has not answered the comm (yet). */
export type ViewState = PresenceState | 'waiting';

/** ok: connected; progress: on its way; warning: the user must act; idle: nothing going on. */
export type Tone = 'ok' | 'progress' | 'warning' | 'idle';

export interface MarkView {
  name: string;
  /** A "#rrggbb" colour, safe to put into a style. */
  background: string;
  /** Black or white, whichever reads better on the background. */
  foreground: string;
}

/** Everything the widgets show, as plain text (they put it in with textContent). */
export interface HostView {
  state: ViewState;
  label: string;
  /** Shown after the label; empty when it would repeat the label. */
  stateText: string;
  title: string;
  tone: Tone;
  mark: MarkView | null;
}

export const STATE_TEXT: Record<ViewState, string> = {
  'not-logged-in': 'not logged in',
  connecting: 'connecting',
  reading: 'reading login environment',
  connected: 'connected',
  lost: 'connection lost',
  reconnecting: 'reconnecting',
  failed: 'login failed',
  waiting: 'waiting'
};

const TONE: Record<ViewState, Tone> = {
  'not-logged-in': 'idle',
  connecting: 'progress',
  reading: 'progress',
  connected: 'ok',
  lost: 'warning',
  reconnecting: 'progress',
  failed: 'warning',
  waiting: 'idle'
};

/** The colour a mark gets when the kernel's is not a plain "#rrggbb" (the palette's grey). */
export const FALLBACK_MARK_COLOUR = '#808080';

const HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;

/** The mark's css colour if it is exactly "#rrggbb", else grey: nothing else reaches a style. */
export function markBackground(css: string): string {
  return HEX_COLOUR.test(css) ? css.toLowerCase() : FALLBACK_MARK_COLOUR;
}

/**
 * Black or white text on a "#rrggbb" background, by the background's relative luminance
 * (WCAG 2.x): white when white has the better contrast ratio.
 */
export function textColourOn(background: string): '#000000' | '#ffffff' {
  const channel = (offset: number): number => {
    const c = parseInt(background.slice(offset, offset + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  const luminance =
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  // Contrast with white: 1.05 / (L + 0.05); with black: (L + 0.05) / 0.05.
  return 1.05 / (luminance + 0.05) > (luminance + 0.05) / 0.05
    ? '#ffffff'
    : '#000000';
}

function markView(mark: Mark): MarkView {
  const background = markBackground(mark.css);
  return { name: mark.name, background, foreground: textColourOn(background) };
}

/** The tooltip: every detail the kernel gave, one per line. */
function titleOf(presence: Presence): string {
  const lines = [`sshpty: ${STATE_TEXT[presence.state]}`];
  if (presence.target !== null) {
    lines.push(`target: ${presence.target}`);
  }
  if (presence.host !== null) {
    const login =
      presence.user !== null
        ? `${presence.user}@${presence.host}`
        : presence.host;
    lines.push(`login: ${login}`);
  }
  if (presence.mark !== null) {
    lines.push(`mark: ${presence.mark.name} (${presence.mark.colour})`);
  }
  return lines.join('\n');
}

export function viewOf(presence: Presence): HostView {
  const stateText = STATE_TEXT[presence.state];
  return {
    state: presence.state,
    label: presence.label,
    stateText: stateText === presence.label ? '' : stateText,
    title: titleOf(presence),
    tone: TONE[presence.state],
    mark: presence.mark === null ? null : markView(presence.mark)
  };
}

/** An sshpty kernel that has not sent a Presence: an older sshpty, or one busy starting. */
export const WAITING_VIEW: HostView = {
  state: 'waiting',
  label: 'sshpty: waiting',
  stateText: '',
  title: 'sshpty: waiting for the kernel to say which host it runs on',
  tone: 'idle',
  mark: null
};
