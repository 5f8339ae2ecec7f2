// GlobalPlatform card management over an SCP03 session (GPCS v2.3.1 §11): what `iotsafe gp` runs,
// in the spirit of GlobalPlatformPro's gp. Open it with GlobalPlatform.open(transport, keys, options).
import {
  buildDeleteApplication,
  buildDeleteKeySet,
  buildGetStatus,
  buildGpGetData,
  buildInstall,
  buildInstallForPersonalization,
  buildPutKey,
  buildSetStatus,
  bytesToHex,
  type CommandApdu,
  carriesSecret,
  command,
  concatBytes,
  decodeBerTlvs,
  decodeCplc,
  decodeKeyInformation,
  decodeStatusEntries,
  encodeCommandApdu,
  encodeKeyData,
  encodePersoOperation,
  encodePutKeySet,
  GP_DATA,
  GP_INS,
  hasLevel,
  type KeyInformation,
  type PersoOperation,
  parseResponseApdu,
  SECURITY_LEVEL,
  type StaticKeys,
  type StatusEntry,
  StatusWordError,
  SW,
  storeDataBlocksOf,
} from '@iotsafe/protocol';
import { openScp03, type Scp03Transport, type Scp03TransportOptions } from './scp03-transport.js';
import { CommandFormatter, formatResponse, type TraceSink } from './trace.js';
import type { Transport } from './transport.js';

export const ISD_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00);
/** The IoT SAFE applet's load file and module on this stack's virtual SIM (real cards name their own). */
export const IOTSAFE_LOAD_FILE_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x05, 0x59, 0x00);
export const IOTSAFE_MODULE_AID = Uint8Array.of(0xa0, 0x00, 0x00, 0x05, 0x59, 0x00, 0x10, 0x01);

export const CARD_STATE = { initialized: 0x07, secured: 0x0f, locked: 0x7f, terminated: 0xff } as const;

export interface GlobalPlatformOptions extends Scp03TransportOptions {
  /** The security domain to select; the ISD by default. */
  securityDomain?: Uint8Array;
}

/**
 * The host refused, before sending anything, to put key material into a session that would carry it in
 * clear: private keys and secrets go only under C-DECRYPTION (GPCS 11.11.3 sensitive data).
 */
export class ClearSecretError extends Error {
  override name = 'ClearSecretError';
}

/** Throws ClearSecretError when `operations` carry a private key or secret and `securityLevel` lacks C-DECRYPTION. */
export function requireConfidentiality(operations: readonly PersoOperation[], securityLevel: number): void {
  if (hasLevel(securityLevel, SECURITY_LEVEL.C_DECRYPTION)) return;
  const carried = operations.flatMap((op) =>
    op.op === 'content' && carriesSecret(op)
      ? [
          `${op.content.kind === 'privateKey' ? 'a private key' : 'a secret'} (${'id' in op.ref ? `ID ${bytesToHex(op.ref.id)}` : `label "${op.ref.label}"`})`,
        ]
      : [],
  );
  if (carried.length === 0) return;
  const level = securityLevel.toString(16).padStart(2, '0');
  throw new ClearSecretError(
    `refused before sending anything: the personalisation holds ${carried.join(', ')}, which an SCP03 session at level ${level} would carry in clear; open the session with C-DECRYPTION (level 03, 13 or 33)`,
  );
}

export class GlobalPlatform {
  private readonly formatter = new CommandFormatter();

  private constructor(
    readonly transport: Scp03Transport,
    private readonly trace?: TraceSink,
  ) {}

  /** Selects the security domain and opens an SCP03 session with it. */
  static async open(
    transport: Transport,
    keys: StaticKeys,
    options: GlobalPlatformOptions = {},
  ): Promise<GlobalPlatform> {
    const sd = options.securityDomain ?? ISD_AID;
    const opened = await openScp03(transport, keys, { sdAid: sd, ...options, select: sd });
    return new GlobalPlatform(opened, options.trace);
  }

  /** The command as sent before SCP03 protects it, and the answer once unprotected, go to the trace too. */
  private async send(name: string, apdu: CommandApdu, accept: readonly number[] = [SW.OK]) {
    const started = performance.now();
    const response = parseResponseApdu(await this.transport.transmit(encodeCommandApdu(apdu)));
    if (this.trace) {
      this.trace(`→ (clear, before SCP03) ${this.formatter.format(apdu)}`);
      const ms = performance.now() - started;
      this.trace(`← (clear, after SCP03) ${formatResponse(response.data, response.sw, false, ms)}`);
    }
    if (!accept.includes(response.sw)) throw new StatusWordError(response.sw, name);
    return response;
  }

  /** The value of a GET DATA object, without its tag and length. */
  async getData(tag: number): Promise<Uint8Array> {
    const { data } = await this.send(`GET DATA ${tag.toString(16).toUpperCase()}`, buildGpGetData(tag));
    const [object] = decodeBerTlvs(data);
    return object?.value ?? data;
  }

  async cplc(): Promise<Record<string, string>> {
    return decodeCplc(await this.getData(GP_DATA.CPLC));
  }

  async keyInformation(): Promise<KeyInformation[]> {
    const { data } = await this.send('GET DATA E0', buildGpGetData(GP_DATA.KEY_INFORMATION));
    return decodeKeyInformation(data);
  }

  /** GET STATUS of the ISD, the applications or the load files (TLV format, following 6310). */
  async status(scope: 'isd' | 'applications' | 'loadFiles'): Promise<StatusEntry[]> {
    const out: StatusEntry[] = [];
    let next = false;
    for (;;) {
      const response = await this.send('GET STATUS', buildGetStatus(scope, next), [
        SW.OK,
        0x6310,
        SW.REFERENCED_DATA_NOT_FOUND,
      ]);
      if (response.sw === SW.REFERENCED_DATA_NOT_FOUND) return out;
      out.push(...decodeStatusEntries(response.data));
      if (response.sw === SW.OK) return out;
      next = true;
    }
  }

  /** PUT KEY: adds a key set (replacing = 0) or replaces key set `replacing`; checks the card's KCVs. */
  async putKeySet(newKeyVersion: number, keys: StaticKeys, replacing = 0): Promise<void> {
    const dek = this.transport.session.staticKeys.dek;
    const { data } = await this.send(
      'PUT KEY',
      buildPutKey(replacing, encodePutKeySet(newKeyVersion, dek, keys)),
    );
    if (data[0] !== newKeyVersion || data.length !== 10)
      throw new StatusWordError(SW.UNKNOWN_ERROR, 'PUT KEY (unexpected answer)');
  }

  /**
   * PUT KEY of any key set: SCP80 (type 80 DES/3DES or 88 AES: KIc, KID, KIK), SCP81 (85 TLS-PSK, then
   * a DEK), from KID `firstKeyId`. Returns the card's KCVs (empty for TLS-PSK).
   */
  async putKeys(
    newKeyVersion: number,
    keys: readonly { type: number; value: Uint8Array }[],
    replacing = 0,
    firstKeyId = 1,
  ): Promise<Uint8Array> {
    const dek = this.transport.session.staticKeys.dek;
    const data = concatBytes(
      Uint8Array.of(newKeyVersion),
      ...keys.map((k) => encodeKeyData(dek, k.type, k.value)),
    );
    const p2 = (keys.length > 1 ? 0x80 : 0x00) | firstKeyId;
    const response = await this.send('PUT KEY', command(0x80, GP_INS.PUT_KEY, replacing, p2, data, 256));
    if (response.data[0] !== newKeyVersion)
      throw new StatusWordError(SW.UNKNOWN_ERROR, 'PUT KEY (unexpected answer)');
    return response.data.subarray(1);
  }

  /**
   * STORE DATA for the ISD itself (GPCS 11.11: no INSTALL [for personalization], BER-TLV format, one
   * block): its HTTP administration parameters (GP Amd B), the `85` template docs/scp81.md describes.
   */
  async storeIsdData(tlv: Uint8Array): Promise<void> {
    await this.send('STORE DATA (ISD)', command(0x80, GP_INS.STORE_DATA, 0x90, 0x00, tlv));
  }

  async deleteKeySet(keyVersion: number): Promise<void> {
    await this.send('DELETE (key set)', buildDeleteKeySet(keyVersion));
  }

  async installApplication(aid: Uint8Array, privileges = Uint8Array.of(0x00)): Promise<void> {
    await this.send(
      'INSTALL [for install and make selectable]',
      buildInstall({
        loadFileAid: IOTSAFE_LOAD_FILE_AID,
        moduleAid: IOTSAFE_MODULE_AID,
        applicationAid: aid,
        privileges,
        parameters: Uint8Array.of(0xc9, 0x00),
      }),
    );
  }

  async deleteApplication(aid: Uint8Array): Promise<void> {
    await this.send('DELETE', buildDeleteApplication(aid));
  }

  /**
   * INSTALL [for personalization] then the script in STORE DATA blocks (docs/perso-format.md), each
   * block whole operations where they fit. Keys and secrets need C-DECRYPTION: without it nothing is sent
   * (ClearSecretError).
   */
  async personalize(aid: Uint8Array, operations: readonly PersoOperation[]): Promise<void> {
    requireConfidentiality(operations, this.transport.session.securityLevel);
    await this.send('INSTALL [for personalization]', buildInstallForPersonalization(aid));
    for (const block of storeDataBlocksOf(operations.map(encodePersoOperation)))
      await this.send('STORE DATA', block);
  }

  async setCardState(state: keyof typeof CARD_STATE): Promise<void> {
    await this.send('SET STATUS (card)', buildSetStatus('card', CARD_STATE[state]));
  }

  async setApplicationLocked(aid: Uint8Array, locked: boolean): Promise<void> {
    await this.send('SET STATUS (application)', buildSetStatus('application', locked ? 0x80 : 0x00, aid));
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
