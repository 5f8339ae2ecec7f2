import type { CommandApdu } from '@iotsafe/protocol';

/** What a handler returns. `onDelivered` runs only once the data reaches the host (not on 6Cxx). */
export interface AppletResponse {
  data: Uint8Array;
  sw: number;
  onDelivered?: () => void;
}

export interface CommandContext {
  channel: number;
}

/** An application on the card, selected by AID on a logical channel. */
export interface Applet {
  readonly aids: readonly Uint8Array[];
  /** False when the applet may be selected on one channel at a time (SELECT elsewhere → 6985). */
  readonly multiSelectable: boolean;
  /** True when the applet unwraps GP secure messaging itself (CLA with the SM bit reaches it). */
  readonly secureMessaging?: boolean;
  /** False while the applet cannot be selected (not installed, locked, card locked): SELECT → 6A82. */
  selectable?(): boolean;
  process(command: CommandApdu, context: CommandContext): AppletResponse;
  /**
   * The runtime refused a command on a channel where this applet is selected before handing it over
   * (length, class, chaining, a secure messaging indication on a command the runtime answers itself).
   * An applet with a secure channel ends that channel's session: a command that fails its checks at
   * any layer is a secure messaging failure (GPCS 10.2.3).
   */
  commandRefused?(channel: number): void;
  /** Called when the applet stops being selected on a channel (reselect, channel close, reset). */
  deselect(channel: number): void;
  /** Card reset: volatile state goes. */
  reset(): void;
}

export const ok = (data: Uint8Array = new Uint8Array(0), sw = 0x9000): AppletResponse => ({ data, sw });
