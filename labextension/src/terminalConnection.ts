/**
 * One notebook's "sshpty.terminal" comm (see kernelComm.ts for when it opens and closes).
 * The terminal renderers of the notebook (terminal.ts) register here by terminal id; the
 * connection sends their requests and hands each kernel event to the renderers of its id. The
 * format is checked in terminalProtocol.ts.
 */

import type { ISessionContext } from '@jupyterlab/apputils';

import { KernelComm } from './kernelComm';
import {
  attachRequest,
  detachRequest,
  keysRequest,
  newTabToken,
  openData,
  parseTerminalEvent,
  resizeRequest,
  tabToken,
  TERMINAL_COMM_TARGET,
  type TerminalEvent,
  type TerminalRequest,
  type TerminalSize
} from './terminalProtocol';

/** What a renderer gives the connection. */
export interface TerminalClient {
  /** The size to ask for when (re)attaching. */
  attachSize(): TerminalSize;
  /** A kernel event for this client's terminal. */
  handle(event: TerminalEvent): void;
  /** The comm is gone (kernel restart or change): stop sending keys until the next screen. */
  disconnected(): void;
}

/** This browser tab's token, read (or made) once per page. */
let pageTabToken: string | null = null;

function currentTabToken(): string {
  if (pageTabToken === null) {
    let storage: Storage | null = null;
    try {
      storage = window.sessionStorage;
    } catch {
      // Access to sessionStorage itself may throw (storage disabled).
    }
    pageTabToken = tabToken(storage, () =>
      newTabToken(n => crypto.getRandomValues(new Uint8Array(n)))
    );
  }
  return pageTabToken;
}

export class TerminalConnection extends KernelComm {
  constructor(session: ISessionContext) {
    super(session, TERMINAL_COMM_TARGET);
  }

  /**
   * Follow terminal `id` for `client`: attach now if the comm is open, else as soon as it is
   * (and again after every reopening). Returns the function that stops following (it sends
   * detach when the last client of the id goes).
   */
  register(id: string, client: TerminalClient): () => void {
    let clients = this._clients.get(id);
    if (clients === undefined) {
      clients = new Set();
      this._clients.set(id, clients);
    }
    clients.add(client);
    this._attach(id, client);
    return () => this._unregister(id, client);
  }

  keys(id: string, data: string, binary = false): void {
    this._send(keysRequest(id, data, binary));
  }

  resize(id: string, size: TerminalSize): void {
    this._send(resizeRequest(id, size));
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    super.dispose();
    this._clients.clear();
  }

  protected openData(): unknown {
    return openData(currentTabToken());
  }

  protected opened(): void {
    // Shell messages are handled in order: the attaches reach the kernel after the open.
    this._attachAll();
  }

  protected received(data: unknown): void {
    const parsed = parseTerminalEvent(data);
    if (!parsed.ok) {
      console.warn(
        `sshpty: ignoring a terminal message: ${parsed.reason}`,
        data
      );
      return;
    }
    const clients = this._clients.get(parsed.event.terminal);
    if (clients === undefined) {
      return; // no renderer shows this terminal (any more)
    }
    for (const client of [...clients]) {
      try {
        client.handle(parsed.event);
      } catch (error) {
        console.warn('sshpty: a terminal failed on a kernel event', error);
      }
    }
  }

  protected lost(hadComm: boolean): void {
    // The renderers keep their last screen and stop sending keys until the next one.
    if (!hadComm) {
      return;
    }
    for (const clients of this._clients.values()) {
      for (const client of clients) {
        try {
          client.disconnected();
        } catch (error) {
          console.warn('sshpty: a terminal failed on disconnect', error);
        }
      }
    }
  }

  protected reconnected(): void {
    // Output sent while the websocket was down is lost: attach again, for a fresh screen.
    this._attachAll();
  }

  private _send(request: TerminalRequest): void {
    this.send(request, `a terminal ${request.request}`);
  }

  private _unregister(id: string, client: TerminalClient): void {
    const clients = this._clients.get(id);
    if (clients === undefined || !clients.delete(client)) {
      return;
    }
    if (clients.size === 0) {
      this._clients.delete(id);
      this._send(detachRequest(id));
    }
  }

  private _attach(id: string, client: TerminalClient): void {
    if (!this.isOpen) {
      return; // attached when the comm opens
    }
    let size: TerminalSize;
    try {
      size = client.attachSize();
    } catch (error) {
      console.warn('sshpty: could not measure a terminal', error);
      return;
    }
    this._send(attachRequest(id, size));
  }

  private _attachAll(): void {
    for (const [id, clients] of this._clients) {
      for (const client of clients) {
        this._attach(id, client);
      }
    }
  }

  private readonly _clients = new Map<string, Set<TerminalClient>>();
}
