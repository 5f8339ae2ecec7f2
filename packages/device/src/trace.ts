// APDU trace: one line per exchange, with secrets redacted — the secret in COMPUTE PRF mode 00, the IKM
// of COMPUTE HKDF, the ECDHE secret given to PRF mode 02, every output of DH/PRF/HKDF, GET RANDOM
// output (hosts seed their DRBG with it, as wolfSSL's HAVE_IOTSAFE_HWRNG does), and the key material
// of STORE DATA (private keys, secrets, DEK-encrypted key DGIs), whatever the security level.
import {
  bytesToHex,
  type CommandApdu,
  decodeClass,
  decodeDgis,
  decodeIotTlvs,
  describeStatusWord,
  dgiMayHoldSecret,
  encodeCommandApdu,
  GP_INS,
  INS,
  swToHex,
  TAG,
} from '@iotsafe/protocol';

export type TraceSink = (line: string) => void;

const SECRET_OUTPUT = new Set<number>([INS.GET_RANDOM, INS.COMPUTE_DH, INS.COMPUTE_PRF, INS.COMPUTE_HKDF]);
const SECRET_TAGS = new Set<number>([TAG.SECRET, TAG.PREMASTER_OTHER_SECRET]);
const STORE_DATA_DGI_FORMAT = 0x08; // P1 b5b4 = 01 (GPCS Table 11-85)

/** True when a command's response data is secret (and so is any GET RESPONSE that fetches it). */
export function hasSecretResponse(apdu: CommandApdu): boolean {
  return SECRET_OUTPUT.has(apdu.ins);
}

const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
const redacted = (n: number, why = '') => `<${n} bytes redacted${why}>`;

function redactedIotTlvs(apdu: CommandApdu): string {
  try {
    return decodeIotTlvs(apdu.data)
      .map((t) => {
        const head = `${hex2(t.tag)} ${hex2(t.value.length)}`;
        return SECRET_TAGS.has(t.tag)
          ? `${head} ${redacted(t.value.length)}`
          : `${head} ${bytesToHex(t.value, ' ')}`;
      })
      .join(' ');
  } catch {
    return redacted(apdu.data.length);
  }
}

/**
 * Formats commands for a trace. It follows STORE DATA series (GPCS 11.11.2): a block's DGIs are shown,
 * those that may hold key material redacted, only when the block is known to start on a DGI boundary
 * (block 00, or the one after a block that ended on one) and ends on one; any other block is redacted
 * whole, since it may carry the rest of a key. Protected STORE DATA is redacted whole: at C-MAC level
 * its data travels in clear.
 */
export class CommandFormatter {
  /** The STORE DATA block number known to start on a DGI boundary. */
  private alignedBlock: number | undefined;

  format(apdu: CommandApdu): string {
    const raw = encodeCommandApdu(apdu);
    const header = bytesToHex(raw.subarray(0, 4), ' ');
    if (apdu.data.length === 0)
      return `${header}${apdu.le !== undefined ? ` ${bytesToHex(raw.subarray(4), ' ')}` : ''}`;
    const le = apdu.le !== undefined ? ` ${hex2(apdu.le & 0xff)}` : '';
    return `${header} ${hex2(apdu.data.length)} ${this.data(apdu)}${le}`;
  }

  private data(apdu: CommandApdu): string {
    if (apdu.ins === GP_INS.STORE_DATA && (apdu.cla & 0x80) !== 0) return this.storeData(apdu);
    if (apdu.ins === INS.COMPUTE_PRF || apdu.ins === INS.COMPUTE_HKDF) return redactedIotTlvs(apdu);
    return bytesToHex(apdu.data, ' ');
  }

  private storeData(apdu: CommandApdu): string {
    const block = apdu.p2;
    const aligned = block === 0 || block === this.alignedBlock;
    const last = (apdu.p1 & 0x80) !== 0;
    this.alignedBlock = undefined;
    if (decodeClass(apdu.cla)?.secureMessaging) return redacted(apdu.data.length, ' (secure messaging)');
    if ((apdu.p1 & 0x18) !== STORE_DATA_DGI_FORMAT || !aligned) return redacted(apdu.data.length);
    let dgis: { dgi: number; value: Uint8Array }[];
    try {
      dgis = decodeDgis(apdu.data);
    } catch {
      return redacted(apdu.data.length, ' (not whole DGIs)');
    }
    if (!last) this.alignedBlock = (block + 1) & 0xff;
    return dgis
      .map(({ dgi, value }) => {
        const length =
          value.length <= 254
            ? hex2(value.length)
            : `FF ${bytesToHex(Uint8Array.of(value.length >> 8, value.length & 0xff), ' ')}`;
        const head = `${hex2(dgi >> 8)} ${hex2(dgi & 0xff)} ${length}`;
        return dgiMayHoldSecret(dgi, value)
          ? `${head} ${redacted(value.length)}`
          : `${head} ${bytesToHex(value, ' ')}`;
      })
      .join(' ');
  }
}

/** One command on its own (a STORE DATA block after the first is redacted whole: see CommandFormatter). */
export function formatCommand(apdu: CommandApdu): string {
  return new CommandFormatter().format(apdu);
}

export function formatResponse(data: Uint8Array, sw: number, secret: boolean, elapsedMs: number): string {
  const body = data.length === 0 ? '' : secret ? `${redacted(data.length)} ` : `${bytesToHex(data, ' ')} `;
  return `${body}${swToHex(sw)} (${describeStatusWord(sw)}, ${elapsedMs.toFixed(1)} ms)`;
}
