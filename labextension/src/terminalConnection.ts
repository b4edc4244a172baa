/**
 * One notebook's "sshpty.terminal" comm: opened once per kernel (again after a restart or a
 * kernel change), like connection.ts does for "sshpty.host", and only for an sshpty kernel.
 * The terminal renderers of the notebook (terminal.ts) register here by terminal id; the
 * connection sends their requests and hands each kernel event to the renderers of its id. The
 * format is checked in terminalProtocol.ts.
 */

import type { ISessionContext } from '@jupyterlab/apputils';
import type { Kernel, KernelMessage } from '@jupyterlab/services';

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

/** Kernel statuses after which the kernel's comms are gone (services disposes them). */
const COMMS_LOST: ReadonlySet<Kernel.Status> = new Set([
  'restarting',
  'autorestarting',
  'dead'
]);

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

export class TerminalConnection {
  constructor(private readonly _session: ISessionContext) {
    _session.kernelChanged.connect(this._onKernelChanged, this);
    _session.statusChanged.connect(this._onStatusChanged, this);
    _session.connectionStatusChanged.connect(this._onConnectionStatus, this);
    void this._open();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Whether the comm is open: requests sent now reach the kernel. */
  get isOpen(): boolean {
    return this._comm !== null && !this._comm.isDisposed;
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

  /** Close the comm (the kernel stops sending) and stop following the session. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._reset();
    this._clients.clear();
    this._session.kernelChanged.disconnect(this._onKernelChanged, this);
    this._session.statusChanged.disconnect(this._onStatusChanged, this);
    this._session.connectionStatusChanged.disconnect(
      this._onConnectionStatus,
      this
    );
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

  private _send(request: TerminalRequest): void {
    const comm = this._comm;
    if (comm === null || comm.isDisposed) {
      return;
    }
    try {
      comm.send(
        request as unknown as KernelMessage.ICommMsgMsg['content']['data']
      );
    } catch (error) {
      console.warn(
        `sshpty: could not send a terminal ${request.request}`,
        error
      );
    }
  }

  private _onKernelChanged(): void {
    this._reset();
    void this._open();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (COMMS_LOST.has(status)) {
      this._reset();
      this._reopen = true;
    } else if (this._reopen && (status === 'idle' || status === 'busy')) {
      // The restarted kernel answers: it is a new process, with a new comm to open.
      this._reopen = false;
      void this._open();
    }
  }

  private _onConnectionStatus(
    _: ISessionContext,
    status: Kernel.ConnectionStatus
  ): void {
    // Output sent while the websocket was down is lost: attach again, for a fresh screen.
    if (status === 'connected' && this._wasDisconnected) {
      this._wasDisconnected = false;
      this._attachAll();
    } else if (status !== 'connected') {
      this._wasDisconnected = true;
    }
  }

  /**
   * Forget the comm; whatever an earlier _open still awaits is stale from now on. The comm is
   * closed, not only dropped: a restart may report a lost status more than once (the comm
   * then already lives on the new kernel, which would stream every terminal to it too), and
   * a kernel change leaves the old kernel running. A kernel that is gone ignores the close.
   */
  private _reset(): void {
    this._epoch += 1;
    const comm = this._comm;
    this._comm = null;
    if (comm !== null && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // The kernel connection is gone: nothing to tell it.
      }
      comm.dispose();
    }
    if (comm !== null) {
      this._notifyDisconnected();
    }
  }

  private _notifyDisconnected(): void {
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

  private async _open(): Promise<void> {
    const epoch = this._epoch;
    const kernel = this._session.session?.kernel ?? null;
    if (kernel === null) {
      return;
    }
    let info: KernelMessage.IInfoReply;
    try {
      info = await kernel.info;
    } catch {
      return; // the kernel went away before it said what it is
    }
    if (epoch !== this._epoch || this._disposed) {
      return;
    }
    // As connection.ts decides for "sshpty.host": the kernel_info's implementation.
    if (info.implementation !== 'sshpty') {
      return;
    }
    try {
      const comm = kernel.createComm(TERMINAL_COMM_TARGET);
      comm.onMsg = msg => this._onMessage(epoch, msg);
      // An sshpty that does not know the target closes the comm (messaging spec, "Comms"):
      // the renderers then keep the display's fallback.
      comm.onClose = () => {
        if (epoch === this._epoch && this._comm === comm) {
          this._comm = null;
          this._notifyDisconnected();
        }
      };
      this._comm = comm;
      comm
        .open(
          openData(
            currentTabToken()
          ) as unknown as KernelMessage.ICommOpenMsg['content']['data']
        )
        .done.catch(() => undefined);
      // Shell messages are handled in order: the attaches reach the kernel after the open.
      this._attachAll();
    } catch (error) {
      console.warn('sshpty: could not open the terminal comm', error);
    }
  }

  private _onMessage(epoch: number, msg: KernelMessage.ICommMsgMsg): void {
    if (epoch !== this._epoch) {
      return;
    }
    const parsed = parseTerminalEvent(msg.content.data);
    if (!parsed.ok) {
      console.warn(
        `sshpty: ignoring a terminal message: ${parsed.reason}`,
        msg.content.data
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

  private _comm: Kernel.IComm | null = null;
  private readonly _clients = new Map<string, Set<TerminalClient>>();
  /** Bumped on every kernel change and restart, so late answers of the old kernel are dropped. */
  private _epoch = 0;
  private _reopen = false;
  private _wasDisconnected = false;
  private _disposed = false;
}
