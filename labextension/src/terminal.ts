/**
 * The live terminal in a cell's output: the renderer of TERMINAL_MIME, an xterm.js terminal
 * attached through the notebook's TerminalConnection to the PTY of the cell's program.
 *
 *   <div class="sshpty-terminal" data-sshpty-terminal="ID" data-sshpty-typing="true|false"
 *        data-sshpty-ended="true" data-lm-suppress-shortcuts="true">
 *     <div class="sshpty-term-host"> (xterm) </div>
 *     <div class="sshpty-term-note">watching: keys go to the tab that ran the cell</div>
 *   </div>
 *
 * data-sshpty-typing is set once the kernel's screen arrived; data-sshpty-ended once the
 * program is over.
 *
 * Keyboard. While the terminal has focus its keys belong to the program, never to JupyterLab:
 *  - lumino's CommandRegistry.processKeydownEvent matches a key binding only through
 *    Private.targetDistance, which walks from the event's target up and returns -1 (no match)
 *    at the first node carrying the attribute `data-lm-suppress-shortcuts`
 *    (@lumino/commands dist/index.js, `targetDistance`: `if (targ.hasAttribute(
 *    'data-lm-suppress-shortcuts')) return -1;`, used by matchKeyBinding for exact and
 *    partial matches, so also for the modifier-only and multi-key ("D, D") bindings). The
 *    renderer's node carries it, so no shortcut fires for a key typed in the terminal, whatever
 *    phase the application listens in.
 *  - That phase: JupyterLab and Notebook 7 start lumino's Application with
 *    `bubblingKeydown: true` (jupyterlab/staging/index.js: `lab.start({ ignorePlugins,
 *    bubblingKeydown: true })`), so Application.addEventListeners listens on the document in
 *    the bubbling phase (@lumino/application: `document.addEventListener('keydown', this,
 *    !this._bubblingKeydown)`). The renderer also stops keydown/keyup propagation at its node,
 *    so in that setting the document listener (and the notebook's own keydown listener, which
 *    may refocus the active cell) never see the terminal's keys at all. xterm itself prevents
 *    the default of the keys it sends (Ctrl-S saves no page; Ctrl-W, Ctrl-T, Ctrl-N stay the
 *    browser's: no page can have them).
 *
 * Leaving the terminal with the keyboard: Ctrl+Shift+Enter blurs it and puts the notebook in
 * command mode on the cell. A terminal sends Enter as CR whatever the modifiers (xterm.js does
 * too), so no program (vi, less, top, emacs) can tell Ctrl+Shift+Enter from Enter: nothing is
 * taken from them; no browser or desktop reserves the chord. (Ctrl+Shift+Escape is Windows'
 * task manager: the page never gets it. Shift+Escape opens Chrome's task manager on Windows and
 * ChromeOS, and an Escape with Shift still held is common in vi.) Clicking elsewhere leaves too.
 *
 * Mouse: xterm's own mousedown handler on its element calls preventDefault and focuses its
 * textarea; the notebook then skips its mousedown handling (Notebook._evtMouseDown runs only
 * `if (!event.defaultPrevented)`), and the focusin makes the cell active in command mode
 * without moving the focus (setMode('command', { focus: false })). A click elsewhere in the
 * renderer (the note) focuses the terminal after the notebook handled the event.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal, type ITheme } from '@xterm/xterm';

import type { TerminalClient, TerminalConnection } from './terminalConnection';
import {
  DEFAULT_SIZE,
  isLeaveChord,
  parseTerminalDisplay,
  resizeFor,
  TERMINAL_MIME,
  wantedSize,
  type TerminalEvent,
  type TerminalSize
} from './terminalProtocol';

/** Lines kept above the screen. */
const SCROLLBACK = 1000;

/** How long the owner waits after the last size change of its output area before it resizes. */
const RESIZE_DEBOUNCE_MS = 100;

const WATCHING_NOTE = 'watching: keys go to the tab that ran the cell';

/** What the renderer needs of its notebook besides the connection. */
export interface TerminalHost {
  connection: TerminalConnection;
  /**
   * Give the focus back to the notebook, in command mode, on the cell holding `node` (the
   * leave chord).
   */
  focusNotebook(node: HTMLElement): void;
}

function cssVariable(node: HTMLElement, name: string, fallback: string) {
  const value = getComputedStyle(node).getPropertyValue(name).trim();
  return value === '' ? fallback : value;
}

/** Colours and font from JupyterLab's theme variables, read when the renderer is shown. */
function themeOf(node: HTMLElement): {
  theme: ITheme;
  fontFamily: string;
  fontSize: number;
} {
  const background = cssVariable(node, '--jp-layout-color0', '#ffffff');
  const foreground = cssVariable(node, '--jp-ui-font-color0', '#000000');
  const fontSize = parseInt(cssVariable(node, '--jp-code-font-size', '13px'));
  return {
    theme: {
      background,
      foreground,
      cursor: foreground,
      cursorAccent: background,
      selectionBackground: 'rgba(128, 128, 128, 0.4)'
    },
    fontFamily: cssVariable(node, '--jp-code-font-family', 'monospace'),
    fontSize: Number.isFinite(fontSize) && fontSize > 0 ? fontSize : 13
  };
}

export class TerminalRenderer
  extends Widget
  implements IRenderMime.IRenderer, TerminalClient
{
  constructor(
    options: IRenderMime.IRendererOptions,
    private readonly _host: TerminalHost
  ) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('sshpty-terminal');
    const node = this.node;
    // See the file comment: no JupyterLab shortcut fires for a key typed in here.
    node.setAttribute('data-lm-suppress-shortcuts', 'true');
    this._termNode = document.createElement('div');
    this._termNode.className = 'sshpty-term-host';
    node.appendChild(this._termNode);
    this._note = document.createElement('div');
    this._note.className = 'sshpty-term-note';
    this._note.textContent = WATCHING_NOTE;
    this._note.hidden = true;
    node.appendChild(this._note);

    this._term = new Terminal({
      scrollback: SCROLLBACK,
      cols: DEFAULT_SIZE.cols,
      rows: DEFAULT_SIZE.rows,
      // No keys reach the program before the kernel said this page owns them.
      disableStdin: true,
      convertEol: false,
      allowProposedApi: false
    });
    this._fit = new FitAddon();
    this._term.loadAddon(this._fit);
    this._term.attachCustomKeyEventHandler(event => this._onKeyEvent(event));
    this._term.onData(data => this._sendKeys(data, false));
    this._term.onBinary(data => this._sendKeys(data, true));

    node.addEventListener('keydown', this._stopKey);
    node.addEventListener('keyup', this._stopKey);
    node.addEventListener('mousedown', this._onMouseDown);
    this._resizeObserver = new ResizeObserver(() => this._scheduleResize());
  }

  /** The terminal id shown; null before the first model. */
  get terminalId(): string | null {
    return this._id;
  }

  /**
   * Show the display. The first one names the terminal; later ones (update_display_data with
   * the same id) change nothing: the xterm keeps going. Another id starts over with it.
   */
  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const id = parseTerminalDisplay(model.data[this._mimeType]);
    if (id === this._id) {
      return Promise.resolve();
    }
    this._stopFollowing();
    this._id = id;
    this._screenSeen = false;
    this._setTyping(null);
    this._setEnded(false);
    this._term.reset();
    if (id === null) {
      this.node.removeAttribute('data-sshpty-terminal');
    } else {
      this.node.dataset.sshptyTerminal = id;
    }
    // Until the kernel's screen arrives (or if it never does: a saved notebook, a kernel
    // without the comm), show the display's text fallback.
    const plain = model.data['text/plain'];
    if (typeof plain === 'string' && plain !== '') {
      const lines = plain.split(/\r?\n/);
      this._term.resize(
        this._term.cols,
        wantedSize(undefined, lines.length).rows
      );
      this._term.write(lines.join('\r\n'));
    }
    if (this._opened) {
      this._follow();
    }
    return Promise.resolve();
  }

  // ---- TerminalClient

  attachSize(): TerminalSize {
    return wantedSize(this._proposedCols(), this._term.rows);
  }

  handle(event: TerminalEvent): void {
    if (this.isDisposed || event.terminal !== this._id) {
      return;
    }
    const term = this._term;
    switch (event.event) {
      case 'screen':
        this._screenSeen = true;
        // A full reset in the write queue (term.reset() would act before output still
        // queued), then the kernel's screen.
        term.write('\x1bc');
        term.resize(event.cols, event.rows);
        term.write(event.data);
        this._setTyping(event.typing);
        this._setEnded(false);
        // The owner's width may give other cols than the PTY has: ask for them.
        this._scheduleResize();
        break;
      case 'output':
        term.write(event.data);
        break;
      case 'size':
        if (event.cols !== term.cols || event.rows !== term.rows) {
          term.resize(event.cols, event.rows);
        }
        break;
      case 'ended':
        this._setEnded(true);
        if (event.screen !== undefined) {
          // The final screen: a page that did not run the cell never gets the display's
          // last update (JupyterLab applies it only where the request came from). One
          // write, after the output still queued: term.reset() would act before it.
          term.write(
            '\x1bc' + event.screen.split('\n').join('\r\n') + '\x1b[?25l'
          );
        }
        break;
    }
  }

  disconnected(): void {
    // Keys would go nowhere until the next screen (after the comm reopened) says who types.
    this._term.options.disableStdin = true;
  }

  // ---- lifecycle

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopFollowing();
    this._resizeObserver.disconnect();
    this._clearResizeTimer();
    this._clearFocusTimer();
    const node = this.node;
    node.removeEventListener('keydown', this._stopKey);
    node.removeEventListener('keyup', this._stopKey);
    node.removeEventListener('mousedown', this._onMouseDown);
    // Disposes the addons and every listener registered on the terminal.
    this._term.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    const term = this._term;
    const look = themeOf(this.node);
    term.options.theme = look.theme;
    term.options.fontFamily = look.fontFamily;
    term.options.fontSize = look.fontSize;
    if (!this._opened) {
      this._opened = true;
      term.open(this._termNode);
      // Attach once shown, so the first attach already asks for the cols of this width.
      this._follow();
    } else {
      // Back in the page (a windowed notebook detaches cells out of view): redraw.
      term.refresh(0, term.rows - 1);
    }
    this._resizeObserver.observe(this.node);
  }

  protected onBeforeDetach(msg: Message): void {
    this._resizeObserver.unobserve(this.node);
    this._clearResizeTimer();
    super.onBeforeDetach(msg);
  }

  // ---- internals

  private _follow(): void {
    if (this._id !== null && this._unregister === null) {
      this._unregister = this._host.connection.register(this._id, this);
    }
  }

  private _stopFollowing(): void {
    const unregister = this._unregister;
    this._unregister = null;
    unregister?.(); // sends detach when this was the terminal's last renderer
  }

  private _sendKeys(data: string, binary: boolean): void {
    if (
      this._id === null ||
      this._typing !== true ||
      this._ended ||
      this._term.options.disableStdin
    ) {
      return;
    }
    this._host.connection.keys(this._id, data, binary);
  }

  /** xterm's custom key handler: false keeps xterm from handling the event. */
  private _onKeyEvent(event: KeyboardEvent): boolean {
    if (isLeaveChord(event)) {
      event.preventDefault();
      if (event.type === 'keydown') {
        this._leave();
      }
      return false;
    }
    return true;
  }

  private _leave(): void {
    this._term.blur();
    this._host.focusNotebook(this.node);
  }

  /** Keys typed in the renderer stay in it (see the file comment). */
  private readonly _stopKey = (event: Event): void => {
    event.stopPropagation();
  };

  private readonly _onMouseDown = (event: MouseEvent): void => {
    if (event.button !== 0) {
      return;
    }
    // After the notebook handled the event (it may select the cell), the terminal has the
    // focus: xterm took it on its own element; a click on the note gives it here.
    this._clearFocusTimer();
    this._focusTimer = window.setTimeout(() => {
      this._focusTimer = null;
      if (!this.isDisposed && this._opened && !this._hasFocus()) {
        this._term.focus();
      }
    }, 0);
  };

  private _hasFocus(): boolean {
    const textarea = this._term.textarea;
    return textarea !== undefined && document.activeElement === textarea;
  }

  private _proposedCols(): number | undefined {
    if (!this._opened || !this.isVisible || this.node.clientWidth === 0) {
      return undefined;
    }
    return this._fit.proposeDimensions()?.cols;
  }

  private _scheduleResize(): void {
    this._clearResizeTimer();
    this._resizeTimer = window.setTimeout(() => {
      this._resizeTimer = null;
      this._resizeToWidth();
    }, RESIZE_DEBOUNCE_MS);
  }

  /** The owner's cols follow its output area's width; a watcher keeps the PTY's size. */
  private _resizeToWidth(): void {
    if (
      this.isDisposed ||
      this._id === null ||
      !this._screenSeen ||
      this._typing !== true ||
      this._ended ||
      !this._host.connection.isOpen
    ) {
      return;
    }
    const term = this._term;
    const size = resizeFor(this._proposedCols(), {
      cols: term.cols,
      rows: term.rows
    });
    if (size === null) {
      return;
    }
    term.resize(size.cols, size.rows);
    this._host.connection.resize(this._id, size);
  }

  private _clearResizeTimer(): void {
    if (this._resizeTimer !== null) {
      window.clearTimeout(this._resizeTimer);
      this._resizeTimer = null;
    }
  }

  private _clearFocusTimer(): void {
    if (this._focusTimer !== null) {
      window.clearTimeout(this._focusTimer);
      this._focusTimer = null;
    }
  }

  /** null: not known yet (no screen); true: this page types; false: it watches. */
  private _setTyping(typing: boolean | null): void {
    this._typing = typing;
    if (typing === null) {
      delete this.node.dataset.sshptyTyping;
    } else {
      this.node.dataset.sshptyTyping = String(typing);
    }
    this._note.hidden = typing !== false || this._ended;
    this._term.options.disableStdin = typing !== true || this._ended;
  }

  private _setEnded(ended: boolean): void {
    this._ended = ended;
    if (ended) {
      this.node.dataset.sshptyEnded = 'true';
      this._note.hidden = true;
      this._term.options.disableStdin = true;
      this._term.options.cursorBlink = false;
      this._term.write('\x1b[?25l'); // hide the cursor: nothing more will be typed
    } else {
      delete this.node.dataset.sshptyEnded;
      this._term.options.disableStdin = this._typing !== true;
    }
  }

  private readonly _mimeType: string;
  private readonly _termNode: HTMLDivElement;
  private readonly _note: HTMLDivElement;
  private readonly _term: Terminal;
  private readonly _fit: FitAddon;
  private readonly _resizeObserver: ResizeObserver;
  private _id: string | null = null;
  private _unregister: (() => void) | null = null;
  private _opened = false;
  private _screenSeen = false;
  private _typing: boolean | null = null;
  private _ended = false;
  private _resizeTimer: number | null = null;
  private _focusTimer: number | null = null;
}

/** The rank of the renderer factory: JupyterLab's lowest built-in one is text/html's 50. */
export const TERMINAL_RANK = 0;

/** A factory bound to one notebook (its connection and focus), for its own rendermime. */
export function terminalRendererFactory(
  host: TerminalHost
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [TERMINAL_MIME],
    defaultRank: TERMINAL_RANK,
    createRenderer: options => new TerminalRenderer(options, host)
  };
}
