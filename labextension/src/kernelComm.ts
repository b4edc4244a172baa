/**
 * A comm that follows a notebook's kernel: opened once per sshpty kernel (again after a
 * restart or a kernel change), closed when it is no longer wanted. What is said on it is the
 * subclass's: connection.ts ("sshpty.host") and terminalConnection.ts ("sshpty.terminal").
 */

import type { ISessionContext } from '@jupyterlab/apputils';
import type { Kernel, KernelMessage } from '@jupyterlab/services';

/** Kernel statuses after which the kernel's comms are gone (services disposes them). */
const COMMS_LOST: ReadonlySet<Kernel.Status> = new Set([
  'restarting',
  'autorestarting',
  'dead'
]);

type CommData = KernelMessage.ICommMsgMsg['content']['data'];

export abstract class KernelComm {
  constructor(
    protected readonly session: ISessionContext,
    private readonly _target: string
  ) {
    session.kernelChanged.connect(this._onKernelChanged, this);
    session.statusChanged.connect(this._onStatusChanged, this);
    session.connectionStatusChanged.connect(this._onConnectionStatus, this);
    // After the subclass's constructor: its fields exist when the hooks run.
    queueMicrotask(() => void this._open());
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Whether the comm is open: what is sent now reaches the kernel. */
  get isOpen(): boolean {
    return this._comm !== null && !this._comm.isDisposed;
  }

  /** Close the comm (the kernel stops sending) and stop following the session. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._reset();
    this.session.kernelChanged.disconnect(this._onKernelChanged, this);
    this.session.statusChanged.disconnect(this._onStatusChanged, this);
    this.session.connectionStatusChanged.disconnect(
      this._onConnectionStatus,
      this
    );
  }

  /** Send on the comm if it is open; `what` names it in a warning. */
  protected send(data: unknown, what: string): void {
    const comm = this._comm;
    if (comm === null || comm.isDisposed) {
      return;
    }
    try {
      comm.send(data as CommData);
    } catch (error) {
      console.warn(`sshpty: could not send ${what}`, error);
    }
  }

  /** The `data` of the comm_open. */
  protected abstract openData(): unknown;
  /** The comm was just opened on an sshpty kernel. */
  protected abstract opened(): void;
  /** A comm_msg's data from the kernel (the current one). */
  protected abstract received(data: unknown): void;
  /**
   * The comm is gone, or there never was one (restart, kernel change, closed by the kernel,
   * disposed); `hadComm`: one was open.
   */
  protected abstract lost(hadComm: boolean): void;
  /** The notebook has no kernel, or one that is not sshpty: there will be no comm. */
  protected notSshpty(): void {}
  /** The websocket came back after it was down: what was sent meanwhile is lost. */
  protected reconnected(): void {}

  private _onKernelChanged(): void {
    this._reopen = false;
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
    if (status === 'connected' && this._wasDisconnected) {
      this._wasDisconnected = false;
      this.reconnected();
    } else if (status !== 'connected') {
      this._wasDisconnected = true;
    }
  }

  /**
   * Forget the comm; whatever an earlier _open still awaits is stale from now on. The comm is
   * closed, not only dropped: a restart may report a lost status more than once (the comm
   * then already lives on the new kernel, which would keep sending to it), and a kernel
   * change leaves the old kernel running. A kernel that is gone ignores the close.
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
    this.lost(comm !== null);
  }

  private async _open(): Promise<void> {
    const epoch = this._epoch;
    if (this._disposed) {
      return;
    }
    const kernel = this.session.session?.kernel ?? null;
    if (kernel === null) {
      this.notSshpty();
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
    if (info.implementation !== 'sshpty') {
      this.notSshpty();
      return;
    }
    try {
      const comm = kernel.createComm(this._target);
      comm.onMsg = msg => {
        if (epoch === this._epoch) {
          this.received(msg.content.data);
        }
      };
      // An sshpty that does not know the target closes the comm (messaging spec, "Comms").
      comm.onClose = () => {
        if (epoch === this._epoch && this._comm === comm) {
          this._comm = null;
          this.lost(true);
        }
      };
      this._comm = comm;
      comm
        .open(this.openData() as KernelMessage.ICommOpenMsg['content']['data'])
        .done.catch(() => undefined);
      this.opened();
    } catch (error) {
      console.warn(`sshpty: could not open the ${this._target} comm`, error);
    }
  }

  private _comm: Kernel.IComm | null = null;
  /** Bumped on every kernel change and restart, so late answers of the old kernel are dropped. */
  private _epoch = 0;
  private _reopen = false;
  private _wasDisconnected = false;
  private _disposed = false;
}
